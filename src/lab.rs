//! The `Lab` handle every use case takes: the project, its store, and who is appending.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};

use crate::event::Event;
use crate::event::Record;
use crate::project::Project;
use crate::store::{Author, Store, StoreError, ViewTx};

/// An opened project with its log and blob store.
pub struct Lab {
    pub project: Project,
    pub store: Store,
    verb: String,
    author: OnceLock<Author>,
}

impl Lab {
    /// Finds the project from `cwd` (walking up) and opens its store. `verb` names the command
    /// in the actor of appended events.
    pub fn open(cwd: &Path, verb: &str) -> Result<Lab> {
        let project = Project::discover(cwd)?;
        Lab::open_project(project, verb)
    }

    pub fn open_project(project: Project, verb: &str) -> Result<Lab> {
        let lab_dir = project.lab_dir();
        std::fs::create_dir_all(&lab_dir)
            .with_context(|| format!("cannot create {}", lab_dir.display()))?;
        let store = Store::open(&lab_dir)?;
        store.blobs.sweep_tmp();
        Ok(Lab {
            project,
            store,
            verb: verb.to_string(),
            author: OnceLock::new(),
        })
    }

    /// The envelope fields of this process: actor, git state (read once; a dirty tree's diff
    /// is stored as a blob), lab version.
    pub fn author(&self) -> Result<&Author> {
        if let Some(a) = self.author.get() {
            return Ok(a);
        }
        let git = crate::git::state(&self.project.root, |diff| self.store.blobs.put(diff))?;
        let a = Author {
            actor: format!(
                "{}@{} (lab {}, pid {})",
                user(),
                host(),
                self.verb,
                std::process::id()
            ),
            git,
            lab_version: version().to_string(),
        };
        Ok(self.author.get_or_init(|| a))
    }

    /// Appends events in one transaction.
    pub fn append(&self, events: Vec<Event>) -> Result<Vec<Record>> {
        Ok(self.store.append(self.author()?, events)?)
    }

    /// Appends what `f` decides inside the write transaction (see `Store::append_with`).
    pub fn append_with<T>(
        &self,
        f: impl FnOnce(&ViewTx) -> std::result::Result<(Vec<Event>, T), StoreError>,
    ) -> Result<(Vec<Record>, T)> {
        Ok(self.store.append_with(self.author()?, f)?)
    }
}

// Facts about processes, moved down a layer (`crate::process`) so that the modules below the
// `Lab` handle use them without importing it; use cases keep naming them here.
pub use crate::process::{host, process_start, run_process_dead, user, version};
