//! TCP_NODELAY on this process's sockets, which sqlx 0.9.0 no longer sets.
//!
//! Without it Nagle's algorithm holds back the tail of any message longer than one
//! TCP segment (one TLS record, 16 KB, when the connection is encrypted) until the
//! server acknowledges the head, and the server delays that acknowledgement by
//! ~40 ms. Measured here: nearly all of a PostgreSQL ingest batch's time went to
//! such stalls, one per multi-row INSERT or rollup read. sqlx dropped the option in
//! 0.9.0 (transact-rs/sqlx#4335) and has merged the fix (#4336) but not released it;
//! remove this module once a release sets it again.
//!
//! sqlx does not expose its sockets, so after each new connection we look at every
//! descriptor of the process, take a duplicate of each TCP socket through a pidfd
//! (`pidfd_getfd`, Linux 5.6+: the same socket under another descriptor) and set the
//! option on it. Safe code throughout; where the kernel or a sandbox refuses, the
//! connection works as before, only slower.

use std::sync::atomic::{AtomicBool, Ordering};

/// Sets TCP_NODELAY on every TCP socket of this process that lacks it, and returns
/// how many it set. Setting it on a socket that is not a database's (the HTTP
/// listener, a client) is harmless: it only stops small writes from waiting.
#[cfg(target_os = "linux")]
pub fn set_tcp_nodelay_on_sockets() -> usize {
    use rustix::net::sockopt;
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    let Ok(pidfd) = pidfd_open(getpid(), PidfdFlags::empty()) else {
        refused_once("pidfd_open");
        return 0;
    };
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let Ok(socket) = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) else {
            refused_once("pidfd_getfd");
            return set;
        };
        // Only TCP sockets answer the TCP_NODELAY query; the rest are skipped.
        if sockopt::tcp_nodelay(&socket) == Ok(false)
            && sockopt::set_tcp_nodelay(&socket, true).is_ok()
        {
            set += 1;
        }
    }
    set
}

/// Elsewhere there is nothing to do: the option is only missing in this build of
/// sqlx on the platforms it runs on, and this workaround is Linux's.
#[cfg(not(target_os = "linux"))]
pub fn set_tcp_nodelay_on_sockets() -> usize {
    0
}

#[cfg(target_os = "linux")]
fn refused_once(call: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "{call} is not permitted here: database connections keep Nagle's algorithm, \
             and large statements may wait ~40 ms each"
        );
    }
}
