//! `ctap serve` with several authenticators in one process (`--instances N`, or `--udp`
//! given more than once): which address and which state file each one gets.
//!
//! Each instance is an independent authenticator (its own credentials, PIN, counters
//! and state file) on its own UDP socket, served by its own thread, so that parallel
//! test shards each get a key of their own and the process uses as many cores as it
//! has instances.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The most instances one `ctap serve` runs (each is a thread, a socket and an
/// authenticator: the bound keeps a typo from asking for thousands).
pub(crate) const MAX_INSTANCES: u16 = 256;

/// In a `--state` pattern, replaced by the instance number (1, 2, ...). Upper case
/// because clap's help text turns a lower-case `{n}` into a line break;
/// [`NUMBER_ALIAS`] is taken too.
pub(crate) const NUMBER: &str = "{N}";
/// The lower-case spelling of [`NUMBER`], accepted as well.
pub(crate) const NUMBER_ALIAS: &str = "{n}";

/// One authenticator of a `ctap serve`: its number (from 1), where it listens and where
/// its state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) number: usize,
    pub(crate) addr: SocketAddr,
    pub(crate) state: Option<PathBuf>,
}

/// The addresses of the instances: every `--udp` once, or with `--instances N` (and
/// one `--udp`) N consecutive ports from the given one (port 0: each picks a free port).
pub(crate) fn addresses(
    udp: &[SocketAddr],
    instances: Option<u16>,
) -> Result<Vec<SocketAddr>, String> {
    let Some(count) = instances else {
        return Ok(udp.to_vec());
    };
    let [first] = udp else {
        return Err(format!(
            "--instances goes with one --udp address (the first port of {count}); \
             got {} --udp addresses: drop --instances to serve one instance on each",
            udp.len()
        ));
    };
    if count == 0 || count > MAX_INSTANCES {
        return Err(format!(
            "--instances must be 1..={MAX_INSTANCES}, got {count}"
        ));
    }
    (0..count)
        .map(|offset| {
            if first.port() == 0 {
                return Ok(*first);
            }
            let port = first.port().checked_add(offset).ok_or_else(|| {
                format!(
                    "--instances {count} from port {} goes past port 65535",
                    first.port()
                )
            })?;
            let mut addr = *first;
            addr.set_port(port);
            Ok(addr)
        })
        .collect()
}

/// The state file of each of `count` instances from `--state`:
/// - none: no instance keeps state;
/// - a path with `{N}` (or `{n}`) in it: a pattern, that replaced by the instance
///   number;
/// - an existing folder, or any path when there are several instances: a folder
///   (created, 0700, if missing) holding `instance-1.state`, `instance-2.state`, ...;
/// - otherwise (one instance): the file itself, as before.
///
/// Two instances never share a file (a shared file would be overwritten by both).
pub(crate) fn state_files(
    state: Option<&Path>,
    count: usize,
) -> Result<Vec<Option<PathBuf>>, String> {
    let Some(state) = state else {
        return Ok(vec![None; count]);
    };
    if let Some(pattern) = state
        .to_str()
        .filter(|text| text.contains(NUMBER) || text.contains(NUMBER_ALIAS))
    {
        return Ok((1..=count)
            .map(|number| {
                let number = number.to_string();
                let path = pattern
                    .replace(NUMBER, &number)
                    .replace(NUMBER_ALIAS, &number);
                Some(PathBuf::from(path))
            })
            .collect());
    }
    if count == 1 && !state.is_dir() {
        return Ok(vec![Some(state.to_path_buf())]);
    }
    if state.exists() && !state.is_dir() {
        return Err(format!(
            "--state {}: {count} instances need a folder or a pattern with {NUMBER} \
             (one file per instance), and this is a file",
            state.display()
        ));
    }
    Ok((1..=count)
        .map(|number| Some(state.join(format!("instance-{number}.state"))))
        .collect())
}

/// The instances of a `ctap serve --udp ...`: addresses and state files together.
pub(crate) fn plan(
    udp: &[SocketAddr],
    instances: Option<u16>,
    state: Option<&Path>,
) -> Result<Vec<Instance>, String> {
    let addrs = addresses(udp, instances)?;
    let states = state_files(state, addrs.len())?;
    Ok(addrs
        .into_iter()
        .zip(states)
        .enumerate()
        .map(|(index, (addr, state))| Instance {
            number: index.saturating_add(1),
            addr,
            state,
        })
        .collect())
}

/// Creates the folder `path` for state files, readable by its owner only (the files
/// hold private keys), unless it exists.
pub(crate) fn create_state_folder(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn instances_take_consecutive_ports_from_the_given_one() {
        assert_eq!(
            addresses(&[addr("127.0.0.1:8111")], Some(4)).unwrap(),
            [
                "127.0.0.1:8111",
                "127.0.0.1:8112",
                "127.0.0.1:8113",
                "127.0.0.1:8114"
            ]
            .map(addr)
        );
    }

    #[test]
    fn port_zero_gives_every_instance_a_free_port_of_its_own() {
        assert_eq!(
            addresses(&[addr("127.0.0.1:0")], Some(3)).unwrap(),
            [addr("127.0.0.1:0"); 3]
        );
    }

    #[test]
    fn repeated_udp_is_one_instance_per_address() {
        let given = [addr("127.0.0.1:9000"), addr("[::1]:9100")];
        assert_eq!(addresses(&given, None).unwrap(), given);
    }

    #[test]
    fn instances_refuse_what_they_cannot_serve() {
        let error = addresses(&[addr("127.0.0.1:65534")], Some(3)).unwrap_err();
        assert!(error.contains("past port 65535"), "{error}");
        // The last port itself is fine.
        assert_eq!(
            addresses(&[addr("127.0.0.1:65534")], Some(2))
                .unwrap()
                .len(),
            2
        );
        let error = addresses(&[addr("127.0.0.1:1"), addr("127.0.0.1:2")], Some(2)).unwrap_err();
        assert!(error.contains("one --udp"), "{error}");
        for count in [0, MAX_INSTANCES + 1] {
            let error = addresses(&[addr("127.0.0.1:0")], Some(count)).unwrap_err();
            assert!(error.contains("1..=256"), "{error}");
        }
    }

    #[test]
    fn a_state_pattern_numbers_the_files() {
        assert_eq!(
            state_files(Some(Path::new("/tmp/shard-{N}.state")), 2).unwrap(),
            [
                Some(PathBuf::from("/tmp/shard-1.state")),
                Some(PathBuf::from("/tmp/shard-2.state"))
            ]
        );
        // The lower-case spelling is the same pattern.
        assert_eq!(
            state_files(Some(Path::new("/tmp/shard-{n}.state")), 2).unwrap(),
            [
                Some(PathBuf::from("/tmp/shard-1.state")),
                Some(PathBuf::from("/tmp/shard-2.state"))
            ]
        );
    }

    #[test]
    fn several_instances_keep_their_files_in_a_state_folder() {
        let folder = std::env::temp_dir().join(format!("ctap-serve-folder-{}", std::process::id()));
        assert_eq!(
            state_files(Some(&folder), 2).unwrap(),
            [
                Some(folder.join("instance-1.state")),
                Some(folder.join("instance-2.state"))
            ]
        );
    }

    #[test]
    fn one_instance_keeps_its_state_file_and_an_existing_folder_stays_a_folder() {
        let file = Path::new("/nonexistent/state.cbor");
        assert_eq!(
            state_files(Some(file), 1).unwrap(),
            [Some(file.to_path_buf())]
        );
        let folder = std::env::temp_dir();
        assert_eq!(
            state_files(Some(&folder), 1).unwrap(),
            [Some(folder.join("instance-1.state"))]
        );
        assert_eq!(state_files(None, 3).unwrap(), [None, None, None]);
    }

    #[test]
    fn several_instances_refuse_one_state_file() {
        let file = std::env::temp_dir().join(format!("ctap-serve-file-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let error = state_files(Some(&file), 2).unwrap_err();
        let _ = std::fs::remove_file(&file);
        assert!(
            error.contains("need a folder or a pattern with {N}"),
            "{error}"
        );
    }

    #[test]
    fn the_plan_numbers_instances_from_one() {
        let plan = plan(&[addr("127.0.0.1:8111")], Some(2), Some(Path::new("s-{n}"))).unwrap();
        assert_eq!(
            plan,
            [
                Instance {
                    number: 1,
                    addr: addr("127.0.0.1:8111"),
                    state: Some("s-1".into())
                },
                Instance {
                    number: 2,
                    addr: addr("127.0.0.1:8112"),
                    state: Some("s-2".into())
                }
            ]
        );
    }
}
