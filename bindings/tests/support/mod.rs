//! What the bindings' tests share: the host's key store and a small roster.
#![allow(dead_code)]

use doorstep_ffi::{KeyProviderError, ReplicaKeyProvider};

/// A two-household roster of 香樟苑.
pub const ROSTER_CSV: &str =
    "小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注
香樟苑,1号楼,1单元,1,101,管建强,19901919478,2,1,0,,正常,无,
香樟苑,1号楼,1单元,2,201,任强,19911257346,2,0,0,独居老人,正常,无,
";

/// The host's key store: one fixed key.
#[derive(Debug)]
pub struct Keys;

impl ReplicaKeyProvider for Keys {
    fn replica_key(&self) -> Result<Vec<u8>, KeyProviderError> {
        Ok(vec![42; 32])
    }
}

/// The relay's admin API, as the tests set a compound up through it.
pub struct Admin {
    /// The client (with the test's CA when the relay serves HTTPS).
    pub client: reqwest::Client,
    /// The relay.
    pub url: String,
    /// The district admin's token.
    pub token: String,
}

impl Admin {
    /// POSTs `body` to `path`; the call must succeed. Its JSON answer, or null.
    pub async fn post(&self, path: &str, content_type: &str, body: String) -> serde_json::Value {
        let request = self.client.post(format!("{}{path}", self.url)).bearer_auth(&self.token);
        let res = request.header("content-type", content_type).body(body).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(serde_json::Value::Null)
    }
}
