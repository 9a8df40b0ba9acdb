//! The read side of the views: the `Query` trait shared by read and append transactions, and
//! its two implementations (`ViewRead` over a read transaction, `ViewTx` inside an append).
//! Rows are decoded here; a row that does not decode says to run `lab reindex`.

use std::path::PathBuf;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, WriteTransaction};

use super::super::StoreError;
use super::super::ab::{AB, AbRow};
use super::super::alerts::{ALERTS, AlertRow};
use super::super::codec::from_bytes;
use super::super::registry::{DEPLOYMENTS, DeploymentRow, REGISTRY, VersionRow};
use super::{DATASETS, DatasetRow, METRICS, RUNS, RunRow, unpack_into};
use crate::event::MetricPoint;

/// Queries shared by read transactions and append transactions.
pub trait Query {
    #[doc(hidden)]
    fn datasets_table(&self) -> Result<Box<dyn DatasetsTable + '_>, StoreError>;
    #[doc(hidden)]
    fn runs_get(&self, id: &str) -> Result<Option<RunRow>, StoreError>;
    #[doc(hidden)]
    fn runs_scan(&self) -> Result<Vec<RunRow>, StoreError>;
    #[doc(hidden)]
    fn registry_scan(&self) -> Result<Vec<VersionRow>, StoreError>;
    #[doc(hidden)]
    fn deployments_scan(&self) -> Result<Vec<DeploymentRow>, StoreError>;
    #[doc(hidden)]
    fn alerts_scan(&self) -> Result<Vec<AlertRow>, StoreError>;

    /// Every alert, open and resolved, ordered by (rule, when raised).
    fn alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.alerts_scan()
    }

    /// The alerts not resolved yet, ordered by rule.
    fn open_alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        Ok(self
            .alerts_scan()?
            .into_iter()
            .filter(AlertRow::is_open)
            .collect())
    }

    fn ab_scan(&self) -> Result<Vec<AbRow>, StoreError>;

    /// Every A/B test, ordered by name.
    fn ab_tests(&self) -> Result<Vec<AbRow>, StoreError> {
        self.ab_scan()
    }

    /// Every model version, ordered by (name, version).
    fn registry(&self) -> Result<Vec<VersionRow>, StoreError> {
        self.registry_scan()
    }

    /// What each environment runs, ordered by (env, model name).
    fn deployments(&self) -> Result<Vec<DeploymentRow>, StoreError> {
        self.deployments_scan()
    }

    /// Every run, in id order.
    fn all_runs(&self) -> Result<Vec<RunRow>, StoreError> {
        self.runs_scan()
    }

    /// The newest version of dataset `name`.
    fn latest_dataset(&self, name: &str) -> Result<Option<DatasetRow>, StoreError> {
        self.datasets_table()?.last_of(name)
    }

    /// Every dataset version, ordered by (name, version).
    fn datasets(&self) -> Result<Vec<DatasetRow>, StoreError> {
        self.datasets_table()?.all()
    }

    fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        self.runs_get(id)
    }
}

#[doc(hidden)]
pub trait DatasetsTable {
    fn last_of(&self, name: &str) -> Result<Option<DatasetRow>, StoreError>;
    fn all(&self) -> Result<Vec<DatasetRow>, StoreError>;
}

pub(in crate::store) fn rerr(path: &std::path::Path) -> impl Fn(redb::Error) -> StoreError + '_ {
    move |e| StoreError::Db {
        path: path.to_path_buf(),
        what: "read",
        detail: e.to_string(),
    }
}

pub(in crate::store) fn decode_row<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &std::path::Path,
) -> Result<T, StoreError> {
    from_bytes(bytes).map_err(|e| StoreError::Db {
        path: path.to_path_buf(),
        what: "read",
        detail: format!("a view row does not decode ({e}): run `lab reindex`"),
    })
}

/// Every row of a view table, decoded.
fn all_rows<K: redb::Key + 'static, R: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<K, &'static [u8]>,
    path: &std::path::Path,
) -> Result<Vec<R>, StoreError> {
    let e = rerr(path);
    let mut out = Vec::new();
    for item in t.iter().map_err(|x| e(x.into()))? {
        let (_, v) = item.map_err(|x| e(x.into()))?;
        out.push(decode_row(v.value(), path)?);
    }
    Ok(out)
}

struct DsT<'a, T> {
    t: T,
    path: &'a std::path::Path,
}

impl<T: ReadableTable<(&'static str, u32), &'static [u8]>> DatasetsTable for DsT<'_, T> {
    fn last_of(&self, name: &str) -> Result<Option<DatasetRow>, StoreError> {
        let e = rerr(self.path);
        let mut it = self
            .t
            .range((name, 0u32)..=(name, u32::MAX))
            .map_err(|x| e(x.into()))?;
        match it.next_back() {
            Some(item) => {
                let (_, v) = item.map_err(|x| e(x.into()))?;
                Ok(Some(decode_row(v.value(), self.path)?))
            }
            None => Ok(None),
        }
    }

    fn all(&self) -> Result<Vec<DatasetRow>, StoreError> {
        let e = rerr(self.path);
        let mut out = Vec::new();
        for item in self.t.iter().map_err(|x| e(x.into()))? {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            out.push(decode_row(v.value(), self.path)?);
        }
        Ok(out)
    }
}

/// Views inside an append transaction.
pub struct ViewTx<'a> {
    tx: &'a WriteTransaction,
    path: PathBuf,
}

impl<'a> ViewTx<'a> {
    pub(in crate::store) fn new(tx: &'a WriteTransaction, path: PathBuf) -> ViewTx<'a> {
        ViewTx { tx, path }
    }
}

impl Query for ViewTx<'_> {
    fn datasets_table(&self) -> Result<Box<dyn DatasetsTable + '_>, StoreError> {
        let t = self
            .tx
            .open_table(DATASETS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        Ok(Box::new(DsT {
            t,
            path: &self.path,
        }))
    }

    fn runs_get(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let t = self
            .tx
            .open_table(RUNS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        let v = t.get(id).map_err(|e| rerr(&self.path)(e.into()))?;
        v.map(|v| decode_row(v.value(), &self.path)).transpose()
    }

    fn registry_scan(&self) -> Result<Vec<VersionRow>, StoreError> {
        let t = self
            .tx
            .open_table(REGISTRY)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn deployments_scan(&self) -> Result<Vec<DeploymentRow>, StoreError> {
        let t = self
            .tx
            .open_table(DEPLOYMENTS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn alerts_scan(&self) -> Result<Vec<AlertRow>, StoreError> {
        let t = self
            .tx
            .open_table(ALERTS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn ab_scan(&self) -> Result<Vec<AbRow>, StoreError> {
        let t = self
            .tx
            .open_table(AB)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn runs_scan(&self) -> Result<Vec<RunRow>, StoreError> {
        let e = rerr(&self.path);
        let t = self.tx.open_table(RUNS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|x| e(x.into()))? {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            out.push(decode_row(v.value(), &self.path)?);
        }
        Ok(out)
    }
}

/// Views in a read transaction.
pub struct ViewRead<'a> {
    r: &'a ReadTransaction,
    path: PathBuf,
}

impl<'a> ViewRead<'a> {
    pub(in crate::store) fn new(r: &'a ReadTransaction, path: PathBuf) -> ViewRead<'a> {
        ViewRead { r, path }
    }

    pub(in crate::store) fn tx(&self) -> &ReadTransaction {
        self.r
    }

    pub(in crate::store) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn runs(&self) -> Result<ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        self.r
            .open_table(RUNS)
            .map_err(|e| rerr(&self.path)(e.into()))
    }

    /// Every run, in id order.
    pub fn runs_all(&self) -> Result<Vec<RunRow>, StoreError> {
        let e = rerr(&self.path);
        let mut out = Vec::new();
        for item in self.runs()?.iter().map_err(|x| e(x.into()))? {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            out.push(decode_row(v.value(), &self.path)?);
        }
        Ok(out)
    }

    /// The full series of `key` in run `run`, ordered by step (log order within a step).
    pub fn metric_series(&self, run: &str, key: &str) -> Result<Vec<MetricPoint>, StoreError> {
        let e = rerr(&self.path);
        let t = self.r.open_table(METRICS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in t
            .range((run, key, 0u64)..=(run, key, u64::MAX))
            .map_err(|x| e(x.into()))?
        {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            unpack_into(v.value(), &mut out);
        }
        if !out.is_sorted_by_key(|p| p.step) {
            out.sort_by_key(|p| p.step);
        }
        Ok(out)
    }

    /// The metric keys logged by run `run`.
    pub fn metric_keys(&self, run: &str) -> Result<Vec<String>, StoreError> {
        let e = rerr(&self.path);
        let t = self.r.open_table(METRICS).map_err(|x| e(x.into()))?;
        let mut keys: Vec<String> = Vec::new();
        for item in t.range((run, "", 0u64)..).map_err(|x| e(x.into()))? {
            let (k, _) = item.map_err(|x| e(x.into()))?;
            let (r, key, _) = k.value();
            if r != run {
                break;
            }
            if keys.last().map(String::as_str) != Some(key) {
                keys.push(key.to_string());
            }
        }
        Ok(keys)
    }
}

impl Query for ViewRead<'_> {
    fn datasets_table(&self) -> Result<Box<dyn DatasetsTable + '_>, StoreError> {
        let t = self
            .r
            .open_table(DATASETS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        Ok(Box::new(DsT {
            t,
            path: &self.path,
        }))
    }

    fn runs_get(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let t = self.runs()?;
        let v = t.get(id).map_err(|e| rerr(&self.path)(e.into()))?;
        v.map(|v| decode_row(v.value(), &self.path)).transpose()
    }

    fn runs_scan(&self) -> Result<Vec<RunRow>, StoreError> {
        self.runs_all()
    }

    fn registry_scan(&self) -> Result<Vec<VersionRow>, StoreError> {
        let t = self
            .r
            .open_table(REGISTRY)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn deployments_scan(&self) -> Result<Vec<DeploymentRow>, StoreError> {
        let t = self
            .r
            .open_table(DEPLOYMENTS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn alerts_scan(&self) -> Result<Vec<AlertRow>, StoreError> {
        let t = self
            .r
            .open_table(ALERTS)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }

    fn ab_scan(&self) -> Result<Vec<AbRow>, StoreError> {
        let t = self
            .r
            .open_table(AB)
            .map_err(|e| rerr(&self.path)(e.into()))?;
        all_rows(&t, &self.path)
    }
}
