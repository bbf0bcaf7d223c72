//! Apache Curator x-discovery's layout: `<root>/<name>/<id>`, data = a `ServiceInstance` as
//! Curator 5.4's `JsonInstanceSerializer` writes it (Jackson, fields in this order):
//!
//! ```text
//! {"name":"springapp","id":"5b1c8f1e-…","address":"10.0.0.9","port":8081,"sslPort":null,
//!  "payload":{"@class":"java.util.LinkedHashMap","version":"1.2"},"registrationTimeUTC":1796194005618,
//!  "serviceType":"DYNAMIC","uriSpec":null}
//! ```
//!
//! `serviceType` is one of [`CURATOR_SERVICE_TYPES`]; `payload` is any JSON value, typed by
//! Jackson with an `@class` property; newer Curators add `"enabled":true` (read; `false` makes
//! the instance unused). Unknown fields are ignored, as Curator's reader does.
//!
//! As a provider, an instance is the URL `http://<address>:<port>/<name>` (`https` and the
//! SSL port when it has only that) with the parameters `id`, `timestamp`
//! (= `registrationTimeUTC`), `sslPort` (when both ports are set), `serviceType` (when not
//! `DYNAMIC`), `payload` (the payload's JSON text) and, from an object payload, each of its
//! scalar entries and those of its `metadata` object (Spring Cloud Zookeeper's), so `weight`,
//! `version`, `group` and `zone` work as in zkmesh's layout. A zkmesh provider registered in
//! this layout writes its URL's parameters as a `java.util.LinkedHashMap` payload of strings.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::url::ServiceUrl;

/// The `serviceType` values Curator writes (`ServiceType`): a registered instance is `DYNAMIC`.
pub const CURATOR_SERVICE_TYPES: [&str; 4] = ["DYNAMIC", "STATIC", "PERMANENT", "DYNAMIC_SEQUENTIAL"];

/// A Curator x-discovery `ServiceInstance`, field for field (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CuratorInstance {
    /// The service name.
    pub name: String,
    /// The instance id (the node's name).
    pub id: String,
    /// Host name or IP.
    pub address: Option<String>,
    /// The plain port, if any.
    pub port: Option<i64>,
    /// The SSL port, if any.
    pub ssl_port: Option<i64>,
    /// Any JSON (Jackson-typed by `@class`).
    #[serde(default)]
    pub payload: Value,
    /// Registration time, ms since the epoch.
    #[serde(rename = "registrationTimeUTC", default)]
    pub registration_time_utc: i64,
    /// `DYNAMIC`, `STATIC`, `PERMANENT` or `DYNAMIC_SEQUENTIAL`.
    #[serde(default = "dynamic")]
    pub service_type: String,
    /// Curator's `UriSpec` (`{"parts":[...]}`) or null.
    #[serde(default)]
    pub uri_spec: Value,
    /// Written by Curator 5.x after CURATOR-275 (absent in Debian's 5.4): false = not in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

fn dynamic() -> String {
    "DYNAMIC".into()
}

impl CuratorInstance {
    /// Parses a node's data.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] naming `path` when the data is not such a JSON document.
    pub fn from_json(path: &str, data: &[u8]) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl { url: path.to_owned(), reason };
        if data.is_empty() {
            return Err(invalid("no data (not a Curator ServiceInstance)".into()));
        }
        let instance: CuratorInstance = serde_json::from_slice(data)
            .map_err(|e| invalid(format!("not a Curator ServiceInstance: {e}")))?;
        if !CURATOR_SERVICE_TYPES.contains(&instance.service_type.as_str()) {
            return Err(invalid(format!("unknown serviceType {:?}", instance.service_type)));
        }
        Ok(instance)
    }

    /// The JSON Curator's `JsonInstanceSerializer` writes, field for field.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The instance zkmesh writes for a provider `url`: `id` = the URL's `id` parameter or a
    /// random UUID, payload = the other parameters (see the module docs).
    pub fn from_url(url: &ServiceUrl) -> Self {
        let mut payload = serde_json::Map::new();
        payload.insert("@class".into(), Value::String("java.util.LinkedHashMap".into()));
        for (k, v) in url.params() {
            if !matches!(k.as_str(), "id" | "timestamp" | "payload") {
                payload.insert(k.clone(), Value::String(v.clone()));
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let https = url.scheme() == "https";
        CuratorInstance {
            name: url.service().to_owned(),
            id: url.param("id").map(str::to_owned).unwrap_or_else(random_uuid),
            address: Some(url.host().to_owned()),
            port: (!https).then_some(i64::from(url.port())),
            ssl_port: https.then_some(i64::from(url.port())),
            payload: Value::Object(payload),
            registration_time_utc: url.timestamp().map(|t| t as i64).unwrap_or(now),
            service_type: dynamic(),
            uri_spec: Value::Null,
            enabled: None,
        }
    }

    /// The provider URL of this instance of `service` (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] naming `path` when the instance names another service, has no
    /// address or port, is disabled, or gives a well-known parameter a bad value.
    pub fn to_url(&self, path: &str, service: &str) -> Result<ServiceUrl> {
        self.url_of(service).map_err(|e| match e {
            Error::InvalidUrl { url, reason } if url == path => Error::InvalidUrl { url, reason },
            other => Error::InvalidUrl { url: path.to_owned(), reason: other.to_string() },
        })
    }

    fn url_of(&self, service: &str) -> Result<ServiceUrl> {
        let invalid = |reason: String| Error::InvalidUrl { url: service.to_owned(), reason };
        if self.name != service {
            return Err(invalid(format!("an instance of {:?} under {service:?}", self.name)));
        }
        if self.enabled == Some(false) {
            return Err(invalid("disabled (enabled: false)".into()));
        }
        let (scheme, port) = match (port_of(self.port), port_of(self.ssl_port)) {
            (Some(p), _) => ("http", p),
            (None, Some(p)) => ("https", p),
            (None, None) => return Err(invalid("no port and no sslPort in 1..=65535".into())),
        };
        let address = self.address.as_deref().ok_or_else(|| invalid("no address".into()))?;
        let mut url = ServiceUrl::new(scheme, address, port, service)?.with_param("id", &self.id)?;
        if self.registration_time_utc > 0 {
            url = url.with_param("timestamp", self.registration_time_utc)?;
        }
        if let (Some(_), Some(ssl)) = (port_of(self.port), port_of(self.ssl_port)) {
            url = url.with_param("sslPort", ssl)?;
        }
        if self.service_type != "DYNAMIC" {
            url = url.with_param("serviceType", &self.service_type)?;
        }
        for (k, v) in payload_params(&self.payload) {
            if url.param(&k).is_none() {
                url = url.with_param(&k, v)?;
            }
        }
        // The payload's text as a parameter when it fits in a URL (it is metadata, not needed
        // to call the instance).
        if !self.payload.is_null() {
            if let Ok(with) = url.clone().with_param("payload", self.payload.to_string()) {
                url = with;
            }
        }
        Ok(url)
    }
}

fn port_of(port: Option<i64>) -> Option<u16> {
    port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0)
}

/// The scalar entries of an object payload and of its `metadata` object, `@class` left out.
fn payload_params(payload: &Value) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let Value::Object(map) = payload else { return params };
    let scalars = |map: &serde_json::Map<String, Value>, into: &mut BTreeMap<String, String>| {
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if k != "@class" && !k.is_empty() {
                into.entry(k.clone()).or_insert(text);
            }
        }
    };
    scalars(map, &mut params);
    if let Some(Value::Object(metadata)) = map.get("metadata") {
        scalars(metadata, &mut params);
    }
    params
}

/// A random (version 4) UUID, as Curator's `ServiceInstance.builder()` makes its ids.
fn random_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zkmesh_s_instance_json_has_curator_s_fields_in_curator_s_order() {
        let url =
            ServiceUrl::parse("http://10.0.0.5:8080/greeter?id=abc&timestamp=17&version=1.2").expect("url");
        let json = String::from_utf8(CuratorInstance::from_url(&url).to_json()).expect("utf-8");
        assert_eq!(
            json,
            r#"{"name":"greeter","id":"abc","address":"10.0.0.5","port":8080,"sslPort":null,"payload":{"@class":"java.util.LinkedHashMap","version":"1.2"},"registrationTimeUTC":17,"serviceType":"DYNAMIC","uriSpec":null}"#
        );
        let back = CuratorInstance::from_json("/p", json.as_bytes())
            .expect("parses")
            .to_url("/p", "greeter")
            .expect("url");
        assert_eq!(
            (back.address(), back.version(), back.timestamp()),
            ("10.0.0.5:8080".into(), Some("1.2"), Some(17))
        );
    }

    #[test]
    fn instances_that_are_not_usable_are_refused_with_a_reason() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "no data"),
            (b"{\"name\":", "not a Curator"),
            (br#"{"name":"x","id":"1","address":"a","port":1,"serviceType":"WEIRD"}"#, "serviceType"),
            (br#"{"name":"other","id":"1","address":"a","port":1}"#, "an instance of"),
            (br#"{"name":"x","id":"1","address":"a","port":70000}"#, "no port"),
        ];
        for (data, reason) in cases {
            let err = CuratorInstance::from_json("/services/x/1", data)
                .and_then(|i| i.to_url("/services/x/1", "x"));
            let err = err.expect_err(reason).to_string();
            assert!(err.contains(reason) && err.contains("/services/x/1"), "{err}");
        }
    }

    #[test]
    fn a_bad_weight_in_the_payload_is_refused_naming_the_node_and_a_huge_payload_is_left_out() {
        let bad = br#"{"name":"x","id":"1","address":"10.0.0.1","port":80,"payload":{"weight":"heavy"}}"#;
        let err = CuratorInstance::from_json("/s/x/1", bad)
            .and_then(|i| i.to_url("/s/x/1", "x"))
            .expect_err("weight");
        assert!(matches!(&err, Error::InvalidUrl { url, .. } if url == "/s/x/1"), "{err:?}");
        assert!(err.to_string().contains("weight"), "{err}");
        let big = format!(
            r#"{{"name":"x","id":"1","address":"10.0.0.1","port":80,"payload":{{"blob":[{}],"metadata":{{"zone":"eu"}}}}}}"#,
            vec!["1"; 3000].join(",")
        );
        let url = CuratorInstance::from_json("/s/x/1", big.as_bytes())
            .and_then(|i| i.to_url("/s/x/1", "x"))
            .expect("usable");
        assert_eq!((url.zone(), url.param("payload")), (Some("eu"), None));
    }

    #[test]
    fn random_ids_look_like_uuids_and_differ() {
        let (a, b) = (random_uuid(), random_uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
