//! Starts a moto server (the local AWS) that lives exactly as long as the current process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `MOTO_SERVER_BIN`, else `.venv/bin/moto_server` of the workspace, else `moto_server` on PATH.
pub fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
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
    let bin = moto_binary();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
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
                // Reaps moto if it ever exits; otherwise keeps this thread (and moto) alive.
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot start {} ({e}); run scripts/bootstrap.sh", bin.display())));
            }
        }
    });
    rx.recv().map_err(|e| e.to_string())??;
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&addr, Duration::from_secs(30))?;
    Ok(format!("http://{addr}"))
}
