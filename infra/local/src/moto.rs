//! Starts a moto server (the local AWS) that lives exactly as long as the current process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The launcher that serves moto one request at a time. moto's own threaded `moto_server` is not
/// atomic for `TransactWriteItems` under concurrent requests (a cancelled transaction's writes can
/// stay applied); DynamoDB's transactions are serializable, so the local AWS must be too.
pub fn launcher() -> PathBuf {
    workspace_root().join("infra/local/moto_serial.py")
}

/// The Python that runs [`launcher`], one with `moto[server]` installed: `MOTO_PYTHON`; else the
/// `python` beside `MOTO_SERVER_BIN` (a venv's `bin/moto_server`, the older override); else the
/// workspace's `.venv/bin/python` (scripts/bootstrap.sh); else `python3` on PATH.
pub fn moto_python() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    if let Ok(bin) = std::env::var("MOTO_SERVER_BIN") {
        if let Some(dir) = PathBuf::from(bin).parent() {
            return dir.join("python");
        }
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port())
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Spawns moto on a free loopback port and returns its endpoint URL. The server is killed when
/// this process exits (PR_SET_PDEATHSIG from a thread that lives as long as the process).
pub fn spawn_for_process() -> Result<String, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let python = moto_python();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Serial, not `moto_server`: see [`launcher`].
        let mut cmd = Command::new(&python);
        cmd.arg(launcher())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                // Reaps moto if it ever exits (and says so while we still wait for its port);
                // otherwise keeps this thread (and moto) alive.
                let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let _ = tx.send(Err(format!(
                    "{} {} exited ({status}); is moto[server] installed for it? run scripts/bootstrap.sh",
                    python.display(),
                    launcher().display()
                )));
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot start {} ({e}); run scripts/bootstrap.sh", python.display())));
            }
        }
    });
    rx.recv().map_err(|e| e.to_string())??;
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        if let Ok(Err(exited)) = rx.try_recv() {
            return Err(exited);
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("http://{addr}"))
}
