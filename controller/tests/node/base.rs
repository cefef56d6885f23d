//! `kubectl apply -k controller/deploy/kustomize/base`: the controller cluster-wide. The shared
//! test cluster runs only namespace-scoped controllers (other tests' controllers run there in
//! parallel), so this runs on a private control plane and node started here and stopped at the
//! end, with settings derived from the shared cluster's (see [`Settings::derive`]).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kseal_test_support::cluster::try_cluster_sh;
use kube::{Api, api::PostParams};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use crate::{
    controller::{apply_controller, build_images, certificate, kustomize_overlay},
    kubectl::{Kube, hex},
    support::{TempDir, report, seal, secret_data, wait_for},
};

/// The private cluster's `cluster.sh` environment.
pub(crate) struct Settings(Vec<(&'static str, String)>);

impl Settings {
    /// Derived from the shared cluster's, so that neither it, nor the fault tests' private
    /// cluster, nor another run of the suite under other settings on the same machine collides
    /// with this one. The shared cluster follows tests/cluster/README.md's scheme (`KSEAL_NET`
    /// 198.18.N with N < 100, Services 198.19.N.0/24, Pods 198.18.(100+N).0/24); from its N:
    ///
    /// | setting | private cluster | N = 0 (the defaults) |
    /// |---|---|---|
    /// | state dir | `<shared dir>-base` | /tmp/kseal-cluster-base |
    /// | bridge | `kb` + 8 hex digits of sha256(shared bridge) | kb… |
    /// | `KSEAL_NET` | 198.19.(100+N) | 198.19.100 |
    /// | Services | 198.19.(200+N/4).(64·(N%4))/26 | 198.19.200.0/26 |
    /// | Pods | 198.18.(200+N/4).(64·(N%4))/26 | 198.18.200.0/26 |
    /// | API server, etcd ports | shared + 1000 (etcd peer + 1001) | 7443, 13379 |
    ///
    /// The fault tests' cluster (198.18.8, 198.19.8.0/24, 6448, 12478) uses only the scheme's
    /// ranges. [`Settings::check_free`] refuses to start when an address range or the bridge is
    /// already on the machine; `cluster.sh up` says which port is taken.
    pub(crate) fn derive() -> Self {
        let status = try_cluster_sh(&["status"], &[]).expect("cluster.sh status");
        let field = |k: &str| -> String {
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in cluster.sh status"))
                .to_owned()
        };
        let dir = field("KSEAL_CLUSTER_DIR");
        let settings = std::fs::read_to_string(PathBuf::from(&dir).join("settings"))
            .expect("the shared cluster's settings file");
        let saved = |k: &str| -> String {
            settings
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("SAVED_{k}=")))
                .unwrap_or_else(|| panic!("no SAVED_{k} in {dir}/settings"))
                .to_owned()
        };
        let net = saved("NET");
        let n: u32 = net
            .strip_prefix("198.18.")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n < 100)
            .unwrap_or_else(|| {
                panic!("the shared cluster's KSEAL_NET={net} is not 198.18.N with N < 100 (tests/cluster/README.md)")
            });
        let port = |k: &str| -> String {
            let p: u32 = saved(k).parse().expect("a port");
            (p + 1000).to_string()
        };
        let bridge = hex(&Sha256::digest(saved("BRIDGE").as_bytes()))[..8].to_owned();
        let block = |prefix: &str| format!("{prefix}.{}.{}/26", 200 + n / 4, 64 * (n % 4));
        Self(vec![
            ("KSEAL_CLUSTER_DIR", format!("{dir}-base")),
            ("KSEAL_BRIDGE", format!("kb{bridge}")),
            ("KSEAL_NET", format!("198.19.{}", 100 + n)),
            ("KSEAL_SERVICE_CIDR", block("198.19")),
            ("KSEAL_POD_CIDR", block("198.18")),
            ("KSEAL_API_PORT", port("API_PORT")),
            ("KSEAL_ETCD_PORT", port("ETCD_PORT")),
        ])
    }

    fn get(&self, key: &str) -> &str {
        &self.0.iter().find(|(k, _)| *k == key).unwrap().1
    }

    /// `cluster.sh ARGS` on the private cluster: stdout, or the tail of stderr.
    fn cluster_sh(&self, args: &[&str]) -> Result<String, String> {
        let env: Vec<(&str, &str)> = self.0.iter().map(|(k, v)| (*k, v.as_str())).collect();
        try_cluster_sh(args, &env).map_err(|e| e.to_string())
    }

    /// Panics when the bridge or one of the address ranges is already in use on this machine.
    fn check_free(&self) {
        let bridge = self.get("KSEAL_BRIDGE");
        let link = std::process::Command::new("ip")
            .args(["link", "show", bridge])
            .output()
            .expect("ip link");
        assert!(
            !link.status.success(),
            "bridge {bridge} exists: another private cluster of these settings is running"
        );
        let routes = std::process::Command::new("ip")
            .args(["-4", "route", "show"])
            .output()
            .expect("ip route");
        let routes = String::from_utf8_lossy(&routes.stdout);
        let net = format!("{}.0/24", self.get("KSEAL_NET"));
        for range in [
            net.as_str(),
            self.get("KSEAL_SERVICE_CIDR"),
            self.get("KSEAL_POD_CIDR"),
        ] {
            let mine = cidr(range).expect("a CIDR");
            let taken = routes.lines().find(|l| {
                let mut words = l.split_whitespace();
                let first = words.next().unwrap_or_default();
                let dest = match first {
                    "unreachable" | "blackhole" | "prohibit" | "local" | "broadcast" => {
                        words.next().unwrap_or_default()
                    }
                    _ => first,
                };
                cidr(dest).is_some_and(|other| overlap(mine, other))
            });
            assert!(
                taken.is_none(),
                "the private cluster's range {range} overlaps a route on this machine: {taken:?}"
            );
        }
    }
}

/// `a.b.c.d/len` (or an address, /32) as (address, prefix length).
fn cidr(s: &str) -> Option<(u32, u32)> {
    let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((u32::from(addr), len))
}

fn overlap((a, la): (u32, u32), (b, lb): (u32, u32)) -> bool {
    let len = la.min(lb);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

/// The private control plane and node; `cluster.sh down` when dropped (unless already down).
struct Private {
    settings: Settings,
    up: bool,
}

impl Private {
    fn down(&mut self) -> f64 {
        let t = Instant::now();
        if self.up {
            self.up = false;
            self.settings
                .cluster_sh(&["down"])
                .unwrap_or_else(|e| panic!("cluster.sh down of the private cluster: {e}"));
        }
        t.elapsed().as_secs_f64()
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        if self.up
            && let Err(e) = self.settings.cluster_sh(&["down"])
        {
            eprintln!("cluster.sh down of the private cluster failed:\n{e}");
        }
    }
}

/// The base on its private cluster: up with a node, `kubectl apply -k` of the base (image tag
/// and pull policy set by a test overlay) → its replicas Ready, cluster-wide; `kubeseal
/// --fetch-cert` and `kseal cert` agree; a SealedSecret in a namespace named nowhere in the
/// controller's configuration is unsealed; then `down`. Prints what each step cost.
pub(crate) async fn kustomize_base() {
    let t0 = Instant::now();
    let settings = Settings::derive();
    // A killed run may have left its cluster behind: start from nothing. (An `up` that failed
    // before writing its state leaves a directory holding only its lock file, without the
    // marker `down` wants: removed here.)
    let dir = PathBuf::from(settings.get("KSEAL_CLUSTER_DIR"));
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name())).collect())
        .unwrap_or_default();
    if entries.len() == 1 && entries[0] == ".lock" {
        std::fs::remove_file(dir.join(".lock")).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
    settings
        .cluster_sh(&["down"])
        .unwrap_or_else(|e| panic!("cluster.sh down (leftover of an earlier run): {e}"));
    settings.check_free();
    let t = Instant::now();
    let out = settings.cluster_sh(&["up", "--node"]);
    let mut private = Private { settings, up: true };
    let out = out.unwrap_or_else(|e| panic!("the private cluster did not start:\n{e}"));
    let up = t.elapsed().as_secs_f64();
    let kube = Kube {
        kubeconfig: PathBuf::from(
            out.lines()
                .find_map(|l| l.strip_prefix("export KUBECONFIG="))
                .expect("cluster.sh up prints the KUBECONFIG line")
                .trim(),
        ),
    };

    let t = Instant::now();
    let scratch = TempDir::new("kseal-node-base");
    let images = build_images(&kube, &scratch.path().join("image"));
    private
        .settings
        .cluster_sh(&["import-image", images.controller_tar.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("import the controller image: {e}"));
    let imported = t.elapsed().as_secs_f64();

    let overlay = kustomize_overlay(scratch.path(), "base", &images.tag);
    let base = crate::support::tools::repo().join("controller/deploy/kustomize/base");
    let replicas = crate::support::tools::docs(
        &std::fs::read_to_string(base.join("deployment.yaml")).unwrap(),
    )[0]["spec"]["replicas"]
        .as_i64()
        .expect("the base's replica count");
    let (d, ready) = apply_controller(&kube, &overlay, replicas).await;
    let args = d["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        !args.contains("--all-namespaces=false") && !args.contains("--additional-namespaces"),
        "the base is cluster-wide: {args}"
    );
    let pem = certificate(&kube, "kube-system").await;

    // Cluster-wide: a SealedSecret in a namespace the controller was never told about.
    let t = Instant::now();
    let client = kseal_test_support::connect(&kube.kubeconfig).await;
    let ns = format!("anywhere-{:08x}", OsRng.next_u32());
    kube.kubectl(&["create", "namespace", &ns]);
    let cert = kseal_core::Certificate::from_pem(pem.as_bytes()).expect("the served certificate");
    let mut value = [0u8; 24];
    OsRng.fill_bytes(&mut value);
    let ss = seal(&cert, &ns, "base-test", &[("TOKEN", &value[..])]);
    Api::<SealedSecret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ss)
        .await
        .expect("create the SealedSecret");
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    wait_for(
        "the cluster-wide controller unseals the SealedSecret",
        Duration::from_secs(60),
        || async {
            let s = secrets.get_opt("base-test").await.ok()??;
            (secret_data(&s).get("TOKEN").map(Vec::as_slice) == Some(&value[..])).then_some(())
        },
    )
    .await;
    let unsealed = t.elapsed().as_secs_f64();
    let down = private.down();
    report(&format!(
        "node kustomize base (private cluster, cluster-wide): up --node {up:.1} s, images built and imported {imported:.1} s, \
         apply -k -> {replicas} controller Pods Ready {ready:.1} s, SealedSecret in an unnamed namespace unsealed {unsealed:.1} s, \
         down {down:.1} s; total {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
}
