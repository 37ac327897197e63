//! Connection storage with generations: `(slot, generation)` names one
//! connection for its whole life and never another.
//!
//! A slot is reused only after its generation is bumped, so anything that
//! outlives a connection — a timer entry, a processor's answer, an admin
//! command, a stale poll event — carries a key that no longer matches and is
//! dropped by the owner. This is what makes the Go gateway's send-on-closed
//! race impossible here rather than recovered from.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotKey {
    pub slot: u32,
    pub generation: u32,
}

/// The poll token of a slot's connection: generation and slot in one
/// `usize`, so a stale readiness event finds no match (the event loops of
/// the reactors and the admin thread register connections by it).
pub fn token_of(key: SlotKey) -> mio::Token {
    mio::Token(((key.generation as usize) << 32) | key.slot as usize)
}

/// The slot key a poll token was made from ([`token_of`]).
pub fn key_of(token: mio::Token) -> SlotKey {
    SlotKey {
        slot: token.0 as u32,
        generation: (token.0 >> 32) as u32,
    }
}

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn insert(&mut self, value: T) -> SlotKey {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let entry = &mut self.entries[slot as usize];
            entry.value = Some(value);
            return SlotKey {
                slot,
                generation: entry.generation,
            };
        }
        let slot = u32::try_from(self.entries.len()).expect("more than 2^32 connections");
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        SlotKey {
            slot,
            generation: 0,
        }
    }

    pub fn get(&self, key: SlotKey) -> Option<&T> {
        let entry = self.entries.get(key.slot as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_ref()
    }

    pub fn get_mut(&mut self, key: SlotKey) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.slot as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_mut()
    }

    /// Removes the value and retires the key: the slot's next occupant gets
    /// a new generation.
    pub fn remove(&mut self, key: SlotKey) -> Option<T> {
        let entry = self.entries.get_mut(key.slot as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(key.slot);
        self.len -= 1;
        Some(value)
    }

    /// Keys of every occupied slot.
    pub fn keys(&self) -> impl Iterator<Item = SlotKey> + '_ {
        self.entries.iter().enumerate().filter_map(|(slot, e)| {
            e.value.as_ref().map(|_| SlotKey {
                slot: slot as u32,
                generation: e.generation,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slot_does_not_answer_to_the_old_key() {
        let mut slab = Slab::default();
        let old = slab.insert("first");
        assert_eq!(slab.remove(old), Some("first"));
        let new = slab.insert("second");
        assert_eq!(new.slot, old.slot);
        assert_ne!(new.generation, old.generation);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.get_mut(new).copied(), Some("second"));
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.keys().collect::<Vec<_>>(), vec![new]);
    }
}
