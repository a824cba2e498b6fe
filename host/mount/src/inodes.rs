//! Inode numbers for UFS paths. The kernel names files by inode; the UFS
//! by path. A path gets a number the first time the kernel sees it (a
//! lookup or a directory listing) and keeps it while the kernel holds it
//! (until `forget`), so that a number never names two paths at once.

use std::collections::HashMap;
use std::sync::Mutex;

/// The root's inode number, as FUSE fixes it.
pub(crate) const ROOT: u64 = 1;

#[derive(Debug)]
struct Node {
    path: String,
    /// Lookups the kernel has not forgotten yet.
    lookups: u64,
}

/// The table of inode numbers.
#[derive(Debug)]
pub(crate) struct Inodes {
    inner: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Inodes {
    pub(crate) fn new() -> Self {
        let mut table = Table {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next: ROOT + 1,
        };
        table.by_ino.insert(
            ROOT,
            Node {
                path: String::new(),
                lookups: 1,
            },
        );
        table.by_path.insert(String::new(), ROOT);
        Self {
            inner: Mutex::new(table),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The UFS path of `ino` (`""` for the root).
    pub(crate) fn path(&self, ino: u64) -> Option<String> {
        self.table().by_ino.get(&ino).map(|n| n.path.clone())
    }

    /// The number of `path`, made if it has none; `lookup` counts one
    /// lookup the kernel will `forget`.
    pub(crate) fn number(&self, path: &str, lookup: bool) -> u64 {
        let mut table = self.table();
        let ino = match table.by_path.get(path) {
            Some(&ino) => ino,
            None => {
                let ino = table.next;
                table.next += 1;
                table.by_path.insert(path.to_owned(), ino);
                table.by_ino.insert(
                    ino,
                    Node {
                        path: path.to_owned(),
                        lookups: 0,
                    },
                );
                ino
            }
        };
        if lookup && let Some(node) = table.by_ino.get_mut(&ino) {
            node.lookups += 1;
        }
        ino
    }

    /// The kernel forgets `n` lookups of `ino`; at none left, the number
    /// is free (the root's never is).
    pub(crate) fn forget(&self, ino: u64, n: u64) {
        let mut table = self.table();
        let Some(node) = table.by_ino.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 && ino != ROOT {
            let path = node.path.clone();
            table.by_ino.remove(&ino);
            table.by_path.remove(&path);
        }
    }

    /// Numbers held now (the root among them).
    pub(crate) fn len(&self) -> usize {
        self.table().by_ino.len()
    }
}

/// `parent`'s child `name` (`parent` is `""` for the root).
pub(crate) fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_names_one_path_until_the_kernel_forgets_it() {
        let inodes = Inodes::new();
        assert_eq!(inodes.path(ROOT).as_deref(), Some(""));
        let a = inodes.number("data/a", true);
        assert_eq!(inodes.number("data/a", true), a);
        let b = inodes.number("data/b", false);
        assert_ne!(a, b);
        assert_eq!(inodes.path(a).as_deref(), Some("data/a"));
        inodes.forget(a, 1);
        assert_eq!(
            inodes.path(a).as_deref(),
            Some("data/a"),
            "one lookup is left"
        );
        inodes.forget(a, 1);
        assert_eq!(inodes.path(a), None);
        assert_ne!(
            inodes.number("data/a", true),
            a,
            "a forgotten number is not reused"
        );
        inodes.forget(ROOT, 5);
        assert_eq!(inodes.path(ROOT).as_deref(), Some(""));
        assert_eq!(child("", "data"), "data");
        assert_eq!(child("data", "a"), "data/a");
    }
}
