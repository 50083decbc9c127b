//! A running server and one kubectl binary, with helpers that fail the test with kubectl's
//! stderr.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use super::{ApiServer, kubectl};

/// A server on a temp data dir of its own, driven by one kubectl binary.
pub struct Session {
    /// The `orchestra apiserver` process.
    pub server: ApiServer,
    /// The kubectl binary this session runs.
    pub kubectl: PathBuf,
    /// The server's data dir; also kubectl's `HOME` and the place of [`Session::file`]s.
    pub dir: tempfile::TempDir,
}

impl Session {
    /// Starts a server on a fresh temp dir for `kubectl` to drive.
    pub fn start(kubectl: PathBuf) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = ApiServer::start(dir.path());
        Session {
            server,
            kubectl,
            dir,
        }
    }

    /// Starts a whole cluster (`orchestra up` with `extra` flags) on a fresh temp dir for
    /// `kubectl` to drive.
    pub fn up(kubectl: PathBuf, extra: &[&str]) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = ApiServer::up(dir.path(), extra);
        Session {
            server,
            kubectl,
            dir,
        }
    }

    /// Runs kubectl with `args` against the server.
    pub fn run(&self, args: &[&str]) -> Output {
        kubectl(&self.kubectl, &self.server.kubeconfig(), args)
    }

    /// kubectl's stdout; panics with its stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kubectl {} ({}) failed: {}",
            args.join(" "),
            self.kubectl.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// kubectl's stderr; panics when it succeeds.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "kubectl {} unexpectedly succeeded: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Writes `text` into a file of the session and answers its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a manifest's directory");
        }
        std::fs::write(&path, text).expect("write a manifest");
        path.to_str().expect("UTF-8 path").to_owned()
    }

    /// What kubectl printed with `-o json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&args)).expect("kubectl printed JSON")
    }
}
