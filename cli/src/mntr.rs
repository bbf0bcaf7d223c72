//! ZooKeeper's own numbers: the `mntr` four-letter word, exported as gauges.
//!
//! Each numeric line `zk_<key>\t<value>` becomes the gauge `zookeeper_<key>` (characters other
//! than ASCII letters, digits and `_` replaced by `_`); other lines (`zk_version`,
//! `zk_server_state`, ...) are skipped.

use local_zk::LocalZooKeeper;

/// The numeric entries of an `mntr` answer, as (gauge name, value), in answer order.
pub fn numeric_entries(answer: &str) -> Vec<(String, f64)> {
    answer
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('\t')?;
            let value: f64 = value.trim().parse().ok().filter(|v: &f64| v.is_finite())?;
            let key = key.trim();
            let key = key.strip_prefix("zk_").unwrap_or(key);
            if key.is_empty() {
                return None;
            }
            let key: String =
                key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
            Some((format!("zookeeper_{key}"), value))
        })
        .collect()
}

/// Asks `zk` for `mntr` and sets a gauge for each numeric entry; returns how many were set.
pub async fn export(zk: &LocalZooKeeper) -> Result<usize, String> {
    let answer = zk.four_letter("mntr").await.map_err(|e| format!("ZooKeeper's mntr: {e}"))?;
    let entries = numeric_entries(&answer);
    if entries.is_empty() {
        return Err(format!("ZooKeeper's mntr had no numeric entries: {answer:?}"));
    }
    for (name, value) in &entries {
        metrics::gauge!(name.clone()).set(*value);
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::numeric_entries;

    #[test]
    fn keeps_numeric_lines_only() {
        let answer = "zk_version\t3.8.4-9316c2a7, built on 2024-02-12 22:16 UTC\n\
                      zk_server_state\tstandalone\n\
                      zk_avg_latency\t0.5\n\
                      zk_znode_count\t5\n\
                      zk_watch_count\t0\n\
                      zk_weird-key.x\t-3\n\
                      zk_nan\tNaN\n\
                      no tab here 7\n\
                      zk_\t1\n";
        assert_eq!(
            numeric_entries(answer),
            [
                ("zookeeper_avg_latency".to_owned(), 0.5),
                ("zookeeper_znode_count".to_owned(), 5.0),
                ("zookeeper_watch_count".to_owned(), 0.0),
                ("zookeeper_weird_key_x".to_owned(), -3.0),
            ]
        );
    }
}
