//! Learned signal setters: the names of the signals host functions enqueued
//! at a site (on streams of a name) were seen to set, and the pending host
//! functions taken, by that, to set a signal no one declared a setter of.
//!
//! Signals are one-shot objects (a new one for each round), so what is
//! learned is a name, not a signal: a name may cover several live signals,
//! and an edge from a signal to a host function learned this way is never
//! forced (a cycle that needs one is potential).

use super::state::{Item, ItemId, ItemKind, Model, SetSite};

/// At most this many sites (site and stream name) learn what they set;
/// sites and names are bounded by the program's call sites and its static
/// names, so the caps only matter for names made at run time.
const MAX_SITES: usize = 1024;
/// At most this many signal names learned per site.
const MAX_NAMES: usize = 16;

impl Model {
    /// The running host function `item` set `signal`: host functions
    /// enqueued at its site on a stream of its stream's name set signals of
    /// `signal`'s name.
    pub(super) fn learn_set(&mut self, item: ItemId, signal: usize) {
        let Some(key) = self.items.get(&item).map(|it| self.set_site(it)) else {
            return;
        };
        let name = self.signals[signal].name;
        let full = self.sets_learned.len() >= MAX_SITES;
        match self.sets_learned.get_mut(&key) {
            Some(names) if !names.contains(&name) && names.len() < MAX_NAMES => names.push(name),
            Some(_) => {}
            None if !full => {
                self.sets_learned.insert(key, vec![name]);
            }
            None => {}
        }
    }

    fn set_site(&self, it: &Item) -> SetSite {
        (it.site, self.streams[it.stream].name)
    }

    /// Whether host functions enqueued at `key` were seen to set a signal
    /// named `name`.
    fn learned_to_set(&self, key: SetSite, name: &str) -> bool {
        self.sets_learned
            .get(&key)
            .is_some_and(|names| names.contains(&name))
    }

    /// The pending host functions taken to set `signal` because their site
    /// was seen to set signals of its name (by id, in enqueue order): none
    /// once it is set (a wait on it does not block), nor while a declared
    /// setter is pending or a thread promised to set it (declared knowledge
    /// wins over a name); never one enqueued at the site of a host function
    /// that waits on it (itself, or a chain: host functions of one site
    /// each waiting on the signal the one before set).
    pub(super) fn learned_feeders(&self, signal: usize) -> Vec<ItemId> {
        let rec = &self.signals[signal];
        if rec.set || self.sets_learned.is_empty() {
            return Vec::new();
        }
        if self.producers.get(&signal).is_some_and(|ks| !ks.is_empty()) {
            return Vec::new();
        }
        let mut setters = Vec::new();
        let mut waiting_sites = Vec::new();
        for (&id, it) in &self.items {
            let ItemKind::HostFn { needs, .. } = &it.kind else {
                continue;
            };
            if needs.feeds.contains(&signal) {
                return Vec::new();
            }
            if needs.waits.contains(&signal) {
                waiting_sites.push(it.site);
            } else if self.learned_to_set(self.set_site(it), rec.name) {
                setters.push((id, it.site));
            }
        }
        let mut out: Vec<ItemId> = setters
            .into_iter()
            .filter(|(_, site)| !waiting_sites.contains(site))
            .map(|(id, _)| id)
            .collect();
        out.sort_unstable();
        out
    }
}
