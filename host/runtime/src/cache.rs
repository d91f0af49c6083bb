//! Precompiled plugin artifacts, cached by the host for the host.
//!
//! Deserializing a `.cwasm` runs native code wasmtime trusts blindly, so the cache accepts
//! only artifacts this host produced: each is stored with an HMAC under a key generated on
//! first use and kept in the cache directory (0700, key file 0600). A foreign or tampered file
//! fails the MAC and is recompiled, never loaded. Entries are keyed by the wasm's SHA-256 and the
//! engine's compatibility hash, so a wasmtime upgrade or a config change simply misses.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

/// What happened when a plugin was loaded through the cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "reason")]
pub enum CacheOutcome {
    /// Loaded from a verified artifact.
    Hit,
    /// Compiled and stored.
    Miss,
    /// An artifact was there but not trusted or not loadable; recompiled.
    Rejected(String),
    /// No cache configured; compiled in memory.
    Disabled,
}

pub struct CompileCache {
    dir: PathBuf,
    key: Vec<u8>,
}

impl CompileCache {
    /// Opens (creating if needed) a cache directory owned by this host.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("cannot create the compile cache {}: {e}", dir.display())
        })?;
        restrict(dir, 0o700)?;
        let key_path = dir.join("host.key");
        let key = match fs::read(&key_path) {
            Ok(k) if k.len() == 32 => k,
            _ => {
                let k: [u8; 32] = rand::random();
                write_atomic(&key_path, &k)?;
                restrict(&key_path, 0o600)?;
                k.to_vec()
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    pub fn entry_key(engine: &Engine, wasm: &[u8]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        format!("{}-{:016x}", hex::encode(Sha256::digest(wasm)), h.finish())
    }

    /// Returns the compiled component and whether the cache served it.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let key = Self::entry_key(engine, wasm);
        let artifact = self.dir.join(format!("{key}.cwasm"));
        let mac_path = self.dir.join(format!("{key}.mac"));
        let mut outcome = CacheOutcome::Miss;
        if let (Ok(bytes), Ok(mac)) = (fs::read(&artifact), fs::read(&mac_path)) {
            if self.verify(&key, &bytes, &mac) {
                // SAFETY: the bytes carry a MAC under a key only this host holds, so they are
                // an artifact this host's `precompile_component` produced for this engine.
                match unsafe { Component::deserialize(engine, &bytes) } {
                    Ok(c) => return Ok((c, CacheOutcome::Hit)),
                    Err(e) => {
                        outcome = CacheOutcome::Rejected(format!("artifact did not load: {e}"))
                    }
                }
            } else {
                outcome = CacheOutcome::Rejected(
                    "artifact was not produced by this host (MAC mismatch)".into(),
                );
            }
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(anyhow::Error::from)?;
        // SAFETY: produced just now by this engine.
        let component =
            unsafe { Component::deserialize(engine, &compiled) }.map_err(anyhow::Error::from)?;
        write_atomic(&artifact, &compiled)?;
        write_atomic(&mac_path, &self.sign(&key, &compiled))?;
        Ok((component, outcome))
    }

    /// The MAC covers the entry's key (which wasm, which engine) as well as the artifact, so
    /// a signed artifact copied over another entry's files is refused, not run for the wrong
    /// plugin.
    fn mac(&self, entry: &str, bytes: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(entry.as_bytes());
        mac.update(&[0]);
        mac.update(bytes);
        mac
    }

    fn sign(&self, entry: &str, bytes: &[u8]) -> Vec<u8> {
        self.mac(entry, bytes).finalize().into_bytes().to_vec()
    }

    fn verify(&self, entry: &str, bytes: &[u8], tag: &[u8]) -> bool {
        self.mac(entry, bytes).verify_slice(tag).is_ok()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // Unique per writer: two loads of one plugin in one process (two services, two threads)
    // must not write through the same temporary file.
    let tmp = path.with_extension(format!(
        "tmp{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    fs::write(&tmp, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot move {} into place: {e}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot restrict permissions of {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineOptions, HostEngine};

    /// The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn engine(consume_fuel: bool) -> HostEngine {
        HostEngine::new(&EngineOptions {
            pooling: false,
            consume_fuel,
            ..Default::default()
        })
        .unwrap()
    }

    /// Fuel changes the generated code: wasmtime's compatibility hash covers its tunables
    /// (`consume_fuel` among them), so the two engines never share an entry, and an artifact
    /// of one does not load into the other.
    #[test]
    fn fuel_and_plain_engines_key_their_artifacts_apart() {
        let (plain, metered) = (engine(false), engine(true));
        assert_ne!(
            CompileCache::entry_key(&plain.engine, EMPTY_COMPONENT),
            CompileCache::entry_key(&metered.engine, EMPTY_COMPONENT)
        );
        assert_eq!(
            CompileCache::entry_key(&plain.engine, EMPTY_COMPONENT),
            CompileCache::entry_key(&engine(false).engine, EMPTY_COMPONENT),
            "the key is stable for one configuration"
        );
        let compiled = plain.engine.precompile_component(EMPTY_COMPONENT).unwrap();
        // SAFETY: produced just now by a host engine; the point is that it is refused.
        let foreign = unsafe { Component::deserialize(&metered.engine, &compiled) };
        assert!(
            foreign.is_err(),
            "a fuel engine must not run code compiled without fuel checks"
        );
    }

    #[test]
    fn a_signed_artifact_moved_to_another_entry_is_refused() {
        // Two components that differ (a custom section), so two entries of one engine.
        let other: &[u8] = b"\0asm\x0d\x00\x01\x00\x00\x04\x03abc";
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        let e = engine(false);
        cache.load_or_compile(&e.engine, EMPTY_COMPONENT).unwrap();
        cache.load_or_compile(&e.engine, other).unwrap();
        let (a, b) = (
            CompileCache::entry_key(&e.engine, EMPTY_COMPONENT),
            CompileCache::entry_key(&e.engine, other),
        );
        for ext in ["cwasm", "mac"] {
            std::fs::copy(
                dir.path().join(format!("{a}.{ext}")),
                dir.path().join(format!("{b}.{ext}")),
            )
            .unwrap();
        }
        let (_, outcome) = cache.load_or_compile(&e.engine, other).unwrap();
        assert!(
            matches!(&outcome, CacheOutcome::Rejected(why) if why.contains("MAC")),
            "{outcome:?}"
        );
        // Compiled again and signed for its own entry: the next load hits.
        assert_eq!(
            cache.load_or_compile(&e.engine, other).unwrap().1,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn a_fuel_engine_misses_where_a_plain_engine_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        let plain = engine(false);
        assert_eq!(
            cache
                .load_or_compile(&plain.engine, EMPTY_COMPONENT)
                .unwrap()
                .1,
            CacheOutcome::Miss
        );
        assert_eq!(
            cache
                .load_or_compile(&plain.engine, EMPTY_COMPONENT)
                .unwrap()
                .1,
            CacheOutcome::Hit
        );
        assert_eq!(
            cache
                .load_or_compile(&engine(true).engine, EMPTY_COMPONENT)
                .unwrap()
                .1,
            CacheOutcome::Miss
        );
    }
}
