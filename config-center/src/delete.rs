//! Deleting a document with everything under it: its history, canary and status nodes, in one
//! transaction.

use zookeeper_client::{Client, Error as ZkError, MultiWriteError};

use crate::center::Inner;
use crate::error::{Error, Result};

/// How many times the listing is taken again when a node appears under the document meanwhile.
const ATTEMPTS: u32 = 16;

/// Deletes `path` and every node under it in one `multi`. `false`: there was no document.
pub(crate) async fn delete_tree(inner: &Inner, path: &str) -> Result<bool> {
    for _ in 0..ATTEMPTS {
        let client = inner.client(path)?;
        let mut nodes = Vec::new();
        if !collect(&client, path, &mut nodes).await? {
            return Ok(false);
        }
        let mut writer = client.new_multi_writer();
        // Children before parents: the deepest first.
        for node in nodes.iter().rev() {
            writer.add_delete(node, None).map_err(|e| Error::zk("multi", node.as_str(), e))?;
        }
        match writer.commit().await {
            Ok(_) => {
                tracing::info!(%path, nodes = nodes.len(), "config deleted");
                return Ok(true);
            }
            // A node came or went meanwhile (a status node of a watcher): list again.
            Err(MultiWriteError::OperationFailed { source: ZkError::NotEmpty | ZkError::NoNode, .. }) => {}
            Err(
                MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source },
            ) => return Err(Error::zk("multi", path, source)),
        }
    }
    Err(Error::Contention { path: path.to_owned(), attempts: ATTEMPTS })
}

/// `path` and its descendants, parents first. `false`: `path` does not exist.
async fn collect(client: &Client, path: &str, nodes: &mut Vec<String>) -> Result<bool> {
    let mut pending = vec![path.to_owned()];
    while let Some(node) = pending.pop() {
        match client.list_children(&node).await {
            Ok(children) => pending.extend(children.into_iter().map(|c| format!("{node}/{c}"))),
            Err(ZkError::NoNode) if node == path => return Ok(false),
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(Error::zk("get_children", node, e)),
        }
        nodes.push(node);
    }
    Ok(true)
}
