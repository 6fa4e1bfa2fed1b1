//! `arxi-witness` processes for the system tests: keys made with its
//! `keygen`, a state directory that outlives the process, and a port kept
//! across restarts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::binary;

/// A witness: its key and state on disk, and its process when running.
#[derive(Debug)]
pub struct WitnessProcess {
    /// The witness's name.
    pub name: String,
    /// Its cosignature key (C2SP vkey).
    pub vkey: String,
    /// `127.0.0.1:PORT` once it has run.
    pub address: Option<String>,
    dir: PathBuf,
    logs: Vec<String>,
    child: Option<Child>,
    /// Every stderr line of the running process.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl WitnessProcess {
    /// Makes a key for `name` under `dir` (created) with `arxi-witness
    /// keygen`, trusting the log keys `logs`.
    pub fn new(dir: &Path, name: &str, logs: &[String]) -> Self {
        std::fs::create_dir_all(dir).expect("witness dir");
        let output = Command::new(binary("arxi-witness"))
            .args(["keygen", "--name", name, "--key"])
            .arg(dir.join("witness.key"))
            .output()
            .expect("arxi-witness keygen");
        assert!(output.status.success(), "keygen: {output:?}");
        let vkey = String::from_utf8(output.stdout)
            .expect("a vkey is text")
            .trim()
            .to_owned();
        Self {
            name: name.to_owned(),
            vkey,
            address: None,
            dir: dir.to_path_buf(),
            logs: logs.to_vec(),
            child: None,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The submission URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address.as_deref().expect("started once"))
    }

    /// Starts the process (on the port of its first run, after a restart)
    /// and waits until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let address_file = self.dir.join("address");
        let _ = std::fs::remove_file(&address_file);
        let listen = self.address.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        let mut command = Command::new(binary("arxi-witness"));
        command
            .arg("serve")
            .arg("--key")
            .arg(self.dir.join("witness.key"))
            .arg("--state")
            .arg(self.dir.join("state"))
            .args(["--listen", &listen])
            .arg("--address-file")
            .arg(&address_file);
        for log in &self.logs {
            command.args(["--log", log]);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn arxi-witness");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let address = crate::wait_for("arxi-witness to listen", Duration::from_secs(20), || {
            if let Ok(text) = std::fs::read_to_string(&address_file) {
                return Some(text.trim().to_owned());
            }
            assert!(
                child.try_wait().expect("wait").is_none(),
                "arxi-witness exited: {:?}",
                self.log.lock().unwrap_or_else(|e| e.into_inner())
            );
            None
        });
        self.address = Some(address);
        self.child = Some(child);
    }

    /// Kills the process (SIGKILL); its state stays on disk.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether a stderr line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|line| line.contains(text))
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
