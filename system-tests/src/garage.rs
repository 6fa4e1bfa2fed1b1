//! Garage, the S3-compatible object store the archive suites run against:
//! one node (`garage server --single-node --default-bucket`, its access key
//! and bucket from `GARAGE_DEFAULT_*`) or a three-node cluster on loopback
//! with replication factor 3 (layout assigned and applied through the
//! `garage` CLI, key imported, bucket allowed). Nodes listen on ports
//! picked free, keep their data under the test's directory, and are killed
//! (SIGKILL) when dropped.
//!
//! The binary is `scripts/install-test-deps.sh`'s, in the versioned tool
//! cache (`ARXI_GARAGE` overrides); a suite fails with a hint when it is
//! missing, since the test command installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The access key every test Garage holds (Garage's own `GK` + 24 hex).
pub const ACCESS_KEY_ID: &str = "GK0123456789abcdef01234567";
/// Its secret (64 hex digits).
pub const SECRET_ACCESS_KEY: &str =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The bucket.
pub const BUCKET: &str = "arxi-test";
/// The region Garage signs for.
pub const REGION: &str = "garage";
/// The pinned version (scripts/tool-pins.sh).
pub const VERSION: &str = "2.5.0";

/// The `garage` binary: `ARXI_GARAGE`, or the tool cache's.
pub fn garage_binary() -> PathBuf {
    let path = std::env::var_os("ARXI_GARAGE").map_or_else(
        || {
            let cache = std::env::var_os("ARXI_TOOLS_CACHE")
                .map_or_else(|| PathBuf::from("/var/cache/arxi-tools"), PathBuf::from);
            cache.join(format!("garage-{VERSION}/bin/garage"))
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing; scripts/install-test-deps.sh builds it (the test command runs it)",
        path.display()
    );
    path
}

/// Held while a deployment picks its ports and starts: two suites of one
/// test process picking "free" ports at once could pick the same one, and
/// a node that failed to bind would leave its suite talking to another
/// suite's Garage.
static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// One Garage node.
#[derive(Debug)]
pub struct Node {
    child: Option<Child>,
    /// Its configuration file.
    pub config: PathBuf,
    /// `http://127.0.0.1:PORT` of its S3 API.
    pub endpoint: String,
    /// `127.0.0.1:PORT` of its RPC.
    pub rpc: String,
    /// Where its log goes.
    pub log: PathBuf,
    single_node: bool,
}

const RPC_SECRET: &str = "4425f5c26c5e11581d3223904324dcb5b5d5dfb14e5e7f35e38c595424f5f1e6";

impl Node {
    fn configure(dir: &Path, replication_factor: u8) -> Self {
        std::fs::create_dir_all(dir).expect("node dir");
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let config = dir.join("garage.toml");
        let text = format!(
            "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\n\
             replication_factor = {replication_factor}\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{RPC_SECRET}\"\n\
             [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
            meta = dir.join("meta").display(),
            data = dir.join("data").display(),
        );
        std::fs::write(&config, text).expect("garage config");
        Self {
            child: None,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
            rpc: format!("127.0.0.1:{rpc}"),
            log: dir.join("garage.log"),
            single_node: false,
        }
    }

    /// Starts (or restarts) the node's server.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the node is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("garage log");
        let mut command = Command::new(garage_binary());
        command.arg("-c").arg(&self.config).arg("server");
        if self.single_node {
            command
                .args(["--single-node", "--default-bucket"])
                .env("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY_ID)
                .env("GARAGE_DEFAULT_SECRET_KEY", SECRET_ACCESS_KEY)
                .env("GARAGE_DEFAULT_BUCKET", BUCKET);
        }
        let child = command
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn garage");
        self.child = Some(child);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the node (SIGKILL), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs the `garage` CLI against this node; stdout, or `None` when it
    /// failed.
    pub fn try_cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new(garage_binary())
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs the `garage` CLI against this node; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(garage_binary())
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("garage cli");
        assert!(
            output.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The node's id (`garage node id -q`: `ID@ADDR`).
    fn node_id(&self) -> String {
        crate::wait_for("garage answers its CLI", Duration::from_secs(30), || {
            let output = Command::new(garage_binary())
                .arg("-c")
                .arg(&self.config)
                .args(["node", "id", "-q"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Garage deployment: one node or three.
#[derive(Debug)]
pub struct Garage {
    /// The nodes; the archive talks to the first.
    pub nodes: Vec<Node>,
}

impl Garage {
    /// One node with the default bucket and key, ready for S3 requests.
    pub fn single_node(dir: &Path) -> Self {
        let _starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let mut node = Node::configure(&dir.join("garage-1"), 1);
        node.single_node = true;
        node.start();
        let mut garage = Self { nodes: vec![node] };
        garage.wait_until_serving();
        garage
    }

    /// Three nodes on loopback, replication factor 3, the bucket and key
    /// created through the CLI.
    pub fn cluster(dir: &Path) -> Self {
        let _starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let mut nodes: Vec<Node> = (1..=3)
            .map(|n| Node::configure(&dir.join(format!("garage-{n}")), 3))
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let ids: Vec<String> = nodes.iter().map(Node::node_id).collect();
        for id in &ids[1..] {
            // The peer may not listen yet: connect until it answers.
            crate::wait_for("a garage peer answers", Duration::from_secs(30), || {
                nodes[0].try_cli(&["node", "connect", id]).map(drop)
            });
        }
        for id in &ids {
            let short = id.split('@').next().expect("an id");
            nodes[0].cli(&["layout", "assign", "-z", "dc1", "-c", "1GB", short]);
        }
        nodes[0].cli(&["layout", "apply", "--version", "1"]);
        nodes[0].cli(&[
            "key",
            "import",
            "--yes",
            "-n",
            "arxi",
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
        ]);
        nodes[0].cli(&["bucket", "create", BUCKET]);
        nodes[0].cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            ACCESS_KEY_ID,
        ]);
        let mut garage = Self { nodes };
        garage.wait_until_serving();
        garage
    }

    /// The first node's S3 endpoint.
    pub fn endpoint(&self) -> &str {
        &self.nodes[0].endpoint
    }

    /// Waits until the bucket answers a listing with our key, and checks
    /// that every started node is still running (one that could not bind
    /// its ports has exited).
    pub fn wait_until_serving(&mut self) {
        let client = self.client();
        crate::eventually("garage serves the bucket", Duration::from_secs(60), || {
            client.list("", None).is_ok()
        });
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let exited = child.try_wait().expect("wait");
                assert!(
                    exited.is_none(),
                    "garage {} exited ({exited:?}); see {}",
                    node.config.display(),
                    node.log.display()
                );
            }
        }
    }

    /// An S3 client for the bucket.
    pub fn client(&self) -> arxi_archive::s3::S3Client {
        arxi_archive::s3::S3Client::new(&arxi_archive::s3::S3Settings {
            endpoint: self.endpoint().to_owned(),
            region: REGION.into(),
            bucket: BUCKET.into(),
            path_style: true,
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: SECRET_ACCESS_KEY.into(),
            session_token: None,
            request_timeout: Duration::from_secs(30),
        })
        .expect("client")
    }

    /// The `[archive]` section (and its credentials file, written into
    /// `dir`) for a sidecar archiving to this Garage under `prefix`.
    pub fn archive_section(&self, dir: &Path, prefix: &str) -> String {
        crate::write_secret(
            dir,
            "s3.credentials",
            &format!(
                "[default]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n"
            ),
        );
        format!(
            "[archive]\nendpoint = \"{}\"\nregion = \"{REGION}\"\nbucket = \"{BUCKET}\"\n\
             key_prefix = \"{prefix}\"\npath_style = true\ncredentials = \"file\"\n\
             credentials_file = \"s3.credentials\"\n",
            self.endpoint()
        )
    }
}
