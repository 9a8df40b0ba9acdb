//! The data set of `lab bench store`: generated (ChaCha8, fixed seed, one stream per file) in a
//! temp directory or under `--dir` (kept there and reused), and the `sha256sum` baseline.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::int;
use crate::event::human_bytes;

const SEED: u64 = 0x1ab_be9c;
const SMALL_FILES: u64 = 20_000;
const SMALL_SIZE: u64 = 8 << 10;
const BIG_FILES: u64 = 7;
const BIG_SIZE: u64 = 50 << 20;
/// Marks a directory under `--dir` as ours (to reuse or replace); holds the data set's shape.
const MARKER: &str = ".lab-bench-data";

/// The data set at a scale.
pub(super) struct Shape {
    small_files: u64,
    big_size: u64,
}

impl Shape {
    pub(super) fn at(scale: u64) -> Shape {
        Shape {
            small_files: (SMALL_FILES / scale).max(1),
            big_size: (BIG_SIZE / scale).max(1),
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.small_files * SMALL_SIZE + BIG_FILES * self.big_size
    }

    /// Every file: path relative to the tree, size.
    fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut files: Vec<(PathBuf, u64)> = (0..self.small_files)
            .map(|i| {
                (
                    format!("small/{:03}/f{i:05}.bin", i / 200).into(),
                    SMALL_SIZE,
                )
            })
            .collect();
        for i in 0..BIG_FILES {
            files.push((format!("big/big{i}.bin").into(), self.big_size));
        }
        files
    }

    fn marker(&self) -> String {
        format!(
            "made by `lab bench store`, safe to delete: {} x {SMALL_SIZE} + {BIG_FILES} x {} bytes, seed {SEED:#x}\n",
            self.small_files, self.big_size
        )
    }
}

/// A directory removed on drop, unless kept.
pub(super) struct TempDir {
    pub(super) path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub(super) fn new_in(parent: &Path, label: &str) -> Result<TempDir> {
        let path = parent.join(format!(
            "lab-bench-{label}-{}-{}",
            std::process::id(),
            crate::store::now_ns()
        ));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The data set under `DIR/lab-bench-data` (reused when a previous run left the same shape
/// there) or in a temp directory. Returns it and every file's absolute path.
pub(super) fn prepare_data(
    dir: Option<&Path>,
    shape: &Shape,
    note: &dyn Fn(&str),
) -> Result<(TempDir, Vec<PathBuf>)> {
    let data = match dir {
        Some(d) => TempDir {
            path: d.join("lab-bench-data"),
            keep: true,
        },
        None => TempDir::new_in(&std::env::temp_dir(), "data")?,
    };
    let tree = data.path.join("tree");
    let files = shape.files();
    let abs: Vec<PathBuf> = files.iter().map(|(p, _)| tree.join(p)).collect();
    let marker = data.path.join(MARKER);
    if data.path.exists() && dir.is_some() {
        match fs::read_to_string(&marker) {
            Ok(m) if m == shape.marker() => {
                note(&format!("reusing the data set in {}", data.path.display()));
                return Ok((data, abs));
            }
            Ok(_) => fs::remove_dir_all(&data.path)
                .with_context(|| format!("cannot clear {}", data.path.display()))?,
            Err(_) => bail!(
                "{} exists and was not made by `lab bench` — pass another --dir",
                data.path.display()
            ),
        }
    }
    note(&format!(
        "generating {} files × {} + {BIG_FILES} × {} ({}) in {}",
        int(shape.small_files),
        human_bytes(SMALL_SIZE),
        human_bytes(shape.big_size),
        human_bytes(shape.bytes()),
        data.path.display()
    ));
    fs::create_dir_all(&data.path)
        .with_context(|| format!("cannot create {}", data.path.display()))?;
    // Marked ours (so a later run may replace it) but incomplete until the last file is in.
    fs::write(&marker, "made by `lab bench store`, incomplete\n")?;
    generate(&tree, &files)?;
    fs::write(&marker, shape.marker())?;
    Ok((data, abs))
}

/// Writes the files: bytes from ChaCha8 with the fixed seed, one stream per file.
fn generate(root: &Path, files: &[(PathBuf, u64)]) -> Result<()> {
    let dirs: std::collections::BTreeSet<&Path> =
        files.iter().filter_map(|(p, _)| p.parent()).collect();
    for d in dirs {
        let d = root.join(d);
        fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    files.par_iter().enumerate().try_for_each_init(
        Vec::new,
        |buf, (i, (rel, size))| -> Result<()> {
            let mut rng = ChaCha8Rng::seed_from_u64(SEED);
            rng.set_stream(i as u64);
            let path = root.join(rel);
            let mut f = fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut left = *size as usize;
            buf.resize(left.min(1 << 20), 0);
            while left > 0 {
                let n = left.min(buf.len());
                rng.fill_bytes(&mut buf[..n]);
                f.write_all(&buf[..n])
                    .with_context(|| format!("cannot write {}", path.display()))?;
                left -= n;
            }
            Ok(())
        },
    )
}

/// The mean time in microseconds to create an empty file in `dir` (256 of them).
pub(super) fn create_cost(dir: &Path) -> Result<f64> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let n = 256;
    let t = Instant::now();
    for i in 0..n {
        let p = dir.join(format!("p{i}"));
        fs::File::create_new(&p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / f64::from(n))
}

/// Reads every file once so that both contenders start from a warm page cache.
pub(super) fn warm(files: &[PathBuf]) -> Result<()> {
    files
        .par_iter()
        .try_for_each_init(Vec::new, |buf, p| -> Result<()> {
            buf.resize(1 << 20, 0);
            let mut f =
                fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            while f.read(buf)? > 0 {}
            Ok(())
        })
}

/// Times `sha256sum` over every file, 1,000 paths per call (as `xargs` would).
/// Returns the time and relative path → hex digest.
pub(super) fn sha256sum(root: &Path, files: &[PathBuf]) -> Result<(f64, HashMap<PathBuf, String>)> {
    let t = Instant::now();
    let mut outputs = Vec::new();
    for chunk in files.chunks(1000) {
        let out = Command::new("sha256sum")
            .args(chunk)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run sha256sum (GNU coreutils), the baseline of this bench")?;
        ensure!(out.status.success(), "sha256sum failed: {}", out.status);
        outputs.push(out.stdout);
    }
    let time = t.elapsed().as_secs_f64();
    let mut map = HashMap::new();
    for line in outputs.iter().flat_map(|o| o.split(|&b| b == b'\n')) {
        if line.len() > 66 {
            let hex = String::from_utf8_lossy(&line[..64]).into_owned();
            let path = Path::new(std::ffi::OsStr::from_bytes(&line[66..]));
            map.insert(path.strip_prefix(root).unwrap_or(path).to_path_buf(), hex);
        }
    }
    ensure!(
        map.len() == files.len(),
        "sha256sum printed {} of {} hashes",
        map.len(),
        files.len()
    );
    Ok((time, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_is_deterministic() {
        let d = std::env::temp_dir().join(format!("lab-bench-test-{}", std::process::id()));
        let shape = Shape::at(2_000);
        generate(&d, &shape.files()).unwrap();
        let a = fs::read(d.join("small/000/f00003.bin")).unwrap();
        generate(&d, &shape.files()).unwrap();
        assert_eq!(fs::read(d.join("small/000/f00003.bin")).unwrap(), a);
        assert_ne!(fs::read(d.join("small/000/f00004.bin")).unwrap(), a);
        assert_eq!(a.len() as u64, SMALL_SIZE);
        fs::remove_dir_all(&d).unwrap();
    }
}
