//! The only module that talks to a cluster: fetching the controller's certificate through the
//! API server's service proxy, as kubeseal does (`controller-compat.md` §8.2), with the user's
//! kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster configuration).

use crate::exit::{Failure, Result};

/// Where the controller is: its Service, as kubeseal's `--controller-name/-namespace` say.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl Controller {
    /// GETs `path` (e.g. `/v1/cert.pem`) from the controller through the API server: reads the
    /// Service's first port name, then calls
    /// `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/PATH`.
    pub(crate) fn get(&self, path: &str) -> Result<Vec<u8>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::runtime(format!("cannot start the HTTP client: {e}")))?;
        runtime.block_on(self.get_async(path))
    }

    async fn get_async(&self, path: &str) -> Result<Vec<u8>> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = kube::Client::try_default().await.map_err(|e| {
            Failure::runtime(format!("cannot connect to the cluster: {e}"))
                .hint("set KUBECONFIG, or pass --cert-url to fetch the certificate directly")
        })?;
        let services: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(client.clone(), &self.namespace);
        let service = services.get(&self.name).await.map_err(|e| {
            Failure::runtime(format!(
                "cannot read Service {}/{}: {e}",
                self.namespace, self.name
            ))
            .hint("is the controller installed? pass --controller-name/--controller-namespace if it is elsewhere")
        })?;
        let port = service
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p.into_iter().next())
            .and_then(|p| p.name)
            .unwrap_or_default();
        let url = format!(
            "/api/v1/namespaces/{}/services/http:{}:{port}/proxy{path}",
            self.namespace, self.name
        );
        let request = http::Request::get(&url)
            .header(http::header::ACCEPT, "application/x-pem-file, */*")
            .body(Vec::new())
            .map_err(|e| Failure::runtime(format!("cannot build request: {e}")))?;
        let text = client.request_text(request).await.map_err(|e| {
            Failure::runtime(format!(
                "cannot fetch {path} from {}/{}: {e}",
                self.namespace, self.name
            ))
        })?;
        Ok(text.into_bytes())
    }
}
