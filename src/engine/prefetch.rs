//! The thumbnail prefetch plan: which image the fallback could need soonest and
//! the store does not hold yet, and which held image it needs least, for a store
//! bounded in entries and bytes.
//!
//! An image is a media item's poster (`None`) or its seek thumbnail at an offset
//! (`Some(ms)`). Its *rank* says how soon the fallback could need it, lower first:
//! the playing item's poster, then its thumbnails ahead of the session time, nearest
//! first (rank = distance), those behind it at twice their distance; the next
//! item's poster and first `ahead` thumbnails (a `preload`) rank after the playing
//! item's first `ahead`. Images of other items are not wanted: they go first, oldest
//! first, when the store is over its bounds.

use super::Millis;

/// A stored or wanted image: the poster (`None`) or the thumbnail at an offset (ms).
pub type Image = Option<Millis>;

/// An item the fallback may need frames of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The media id.
    pub id: String,
    /// Whether it has a poster to fetch.
    pub poster: bool,
    /// The thumbnail offset of the session time (0 for an item not started).
    pub at_ms: Millis,
    /// The item's duration, ms, when known: its thumbnails up to there are wanted.
    /// Unknown, only the `ahead` ones from `at_ms` are.
    pub end_ms: Option<Millis>,
}

/// What the fallback may need: the playing item, and the one the page queued next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The playing item.
    pub current: Option<Item>,
    /// The item the page will play next (`handle.preload`).
    pub next: Option<Item>,
    /// The server's thumbnail spacing, ms (at least 1).
    pub step_ms: Millis,
    /// Thumbnails wanted first, from the session time (and of the next item).
    pub ahead: u32,
}

impl Wanted {
    fn step(&self) -> Millis {
        self.step_ms.max(1)
    }

    /// The span of the first `ahead` thumbnails, ms.
    fn window_ms(&self) -> Millis {
        self.step().saturating_mul(u64::from(self.ahead))
    }

    /// How soon the fallback could need `image` of `media` (lower: sooner);
    /// `None` when it is not wanted at all.
    pub fn rank(&self, media: &str, image: Image) -> Option<u64> {
        let window = self.window_ms();
        let step = self.step();
        if let Some(item) = self.current.as_ref().filter(|i| i.id == media) {
            let Some(offset) = image else { return Some(0) };
            let at = item.at_ms / step * step;
            return Some(match offset.checked_sub(at) {
                Some(ahead) => ahead,
                None => at.saturating_sub(offset).saturating_mul(2),
            });
        }
        let next = self.next.as_ref().filter(|i| i.id == media)?;
        let Some(offset) = image else { return Some(window) };
        let ahead = offset.checked_sub(next.at_ms / step * step).filter(|ahead| *ahead < window)?;
        Some(window.saturating_add(ahead))
    }

    /// Every wanted image, soonest first (at most `limit` thumbnails each way
    /// from an item's session time: no more could be held). A merge of runs
    /// whose ranks only grow; at equal ranks the earlier run's image first.
    pub fn candidates(&self, limit: u32) -> impl Iterator<Item = (&str, Image)> + '_ {
        let mut runs = Vec::new();
        if let Some(item) = &self.current {
            self.runs(&mut runs, item, false, limit);
        }
        if let Some(item) = self.next.as_ref().filter(|n| self.current.as_ref().map_or(true, |c| c.id != n.id)) {
            self.runs(&mut runs, item, true, limit);
        }
        std::iter::from_fn(move || {
            let mut best: Option<(usize, u64)> = None;
            for (index, run) in runs.iter().enumerate() {
                let Some(image) = run.peek() else { continue };
                let rank = self.rank(run.media, image).unwrap_or(u64::MAX);
                if best.map_or(true, |(_, least)| rank < least) {
                    best = Some((index, rank));
                }
            }
            let run = runs.get_mut(best?.0)?;
            let image = run.peek()?;
            run.taken += 1;
            Some((run.media, image))
        })
    }

    /// `item`'s runs of wanted images: its poster, its thumbnails ahead (to its
    /// end, or only the first `ahead`) and, to its start, behind.
    fn runs<'a>(&self, runs: &mut Vec<Run<'a>>, item: &'a Item, first_only: bool, limit: u32) {
        let step = self.step();
        let media = item.id.as_str();
        let limit = u64::from(limit);
        if item.poster {
            runs.push(Run { media, from: None, step: 0, backwards: false, count: 1, taken: 0 });
        }
        let at = item.at_ms / step * step;
        let ahead = match (item.end_ms, first_only) {
            (Some(end), false) => end.saturating_sub(at).div_ceil(step),
            _ => u64::from(self.ahead),
        };
        runs.push(Run { media, from: Some(at), step, backwards: false, count: ahead.min(limit), taken: 0 });
        if !first_only && item.end_ms.is_some() {
            let behind = (at / step).min(limit);
            runs.push(Run {
                media,
                from: Some(at.saturating_sub(step)),
                step,
                backwards: true,
                count: behind,
                taken: 0,
            });
        }
    }

    /// The next image to fetch: the soonest wanted one not `held`; `None` when all
    /// are held, or the store is `full` of images wanted at least as soon.
    pub fn next<'a>(&'a self, held: &[(&str, Image)], full: bool, limit: u32) -> Option<(&'a str, Image)> {
        let is_held = |media: &str, image: Image| held.iter().any(|(m, i)| *m == media && *i == image);
        let (media, image) = self.candidates(limit).find(|(m, i)| !is_held(m, *i))?;
        if full {
            let worst = held.iter().map(|(m, i)| self.rank(m, *i).unwrap_or(u64::MAX)).max()?;
            let rank = self.rank(media, image).unwrap_or(u64::MAX);
            if rank >= worst {
                return None;
            }
        }
        Some((media, image))
    }

    /// Which of `held` (oldest first) to drop first: one not wanted, the oldest;
    /// else the one wanted last.
    pub fn victim(&self, held: &[(&str, Image)]) -> Option<usize> {
        let mut victim: Option<(usize, u64)> = None;
        for (index, (media, image)) in held.iter().enumerate() {
            let rank = self.rank(media, *image).unwrap_or(u64::MAX);
            if victim.map_or(true, |(_, worst)| rank > worst) {
                victim = Some((index, rank));
            }
        }
        victim.map(|(index, _)| index)
    }
}

/// A run of one item's images whose ranks only grow: its poster (`from: None`),
/// or thumbnails every `step` from `from`, forwards or backwards.
struct Run<'a> {
    media: &'a str,
    from: Image,
    step: Millis,
    backwards: bool,
    count: u64,
    taken: u64,
}

impl Run<'_> {
    /// The run's next image, if any is left.
    fn peek(&self) -> Option<Image> {
        if self.taken >= self.count {
            return None;
        }
        let Some(from) = self.from else { return Some(None) };
        let moved = self.step.saturating_mul(self.taken);
        Some(Some(if self.backwards { from.saturating_sub(moved) } else { from.saturating_add(moved) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Millis = 10_000;

    fn item(id: &str, at_ms: Millis, end_ms: Option<Millis>) -> Item {
        Item { id: id.into(), poster: true, at_ms, end_ms }
    }

    fn wanted(current: Item, next: Option<Item>) -> Wanted {
        Wanted { current: Some(current), next, step_ms: S, ahead: 3 }
    }

    #[test]
    fn the_poster_then_ahead_nearest_first_then_behind_at_twice_the_distance() {
        let w = wanted(item("a", 60_000, Some(120_000)), None);
        let order: Vec<_> = w.candidates(1_000).collect();
        let offsets: Vec<Image> = order.iter().map(|(_, i)| *i).collect();
        let expected = [0, 60, 70, 80, 50, 90, 100, 40, 110, 30, 20, 10, 0].map(|s: u64| Some(s * 1_000));
        let mut expected = expected.to_vec();
        expected[0] = None;
        assert_eq!(offsets, expected, "at equal ranks, ahead first");
    }

    #[test]
    fn the_whole_item_is_wanted_once_its_end_is_known_only_the_next_minutes_before() {
        let unknown = wanted(item("a", 0, None), None);
        assert_eq!(unknown.candidates(1_000).count(), 1 + 3);
        let known = wanted(item("a", 0, Some(600_000)), None);
        assert_eq!(known.candidates(1_000).count(), 1 + 60);
        assert_eq!(known.candidates(10).count(), 1 + 10, "never more than could be held");
    }

    #[test]
    fn the_next_items_first_minutes_come_after_the_playing_items() {
        let w = wanted(item("a", 0, Some(600_000)), Some(item("b", 0, None)));
        let order: Vec<_> = w.candidates(1_000).collect();
        let b_first = order.iter().position(|(m, _)| *m == "b").unwrap();
        assert_eq!(
            b_first,
            1 + 4,
            "after a's poster and its first 3 (and its 4th: equal ranks go to the playing item)"
        );
        assert_eq!(order.iter().filter(|(m, _)| *m == "b").count(), 1 + 3);
        assert_eq!(w.rank("b", Some(600_000)), None, "beyond its first minutes");
        assert_eq!(w.rank("c", None), None);
    }

    #[test]
    fn fetches_what_is_missing_and_stops_when_full_of_sooner_images() {
        let w = wanted(item("a", 20_000, Some(60_000)), None);
        let held = [("a", None), ("a", Some(20_000))];
        assert_eq!(w.next(&held, false, 100), Some(("a", Some(30_000))));
        assert_eq!(w.next(&held, true, 100), None, "full of images wanted sooner");
        let with_stale = [("old", Some(0)), ("a", None), ("a", Some(20_000))];
        assert_eq!(w.next(&with_stale, true, 100), Some(("a", Some(30_000))), "an unwanted image can go");
        let all: Vec<(&str, Image)> = w.candidates(100).collect();
        assert_eq!(w.next(&all, false, 100), None);
    }

    #[test]
    fn the_victim_is_an_unwanted_image_oldest_first_else_the_one_wanted_last() {
        let w = wanted(item("a", 20_000, Some(60_000)), None);
        let held = [("a", Some(50_000)), ("x", Some(0)), ("y", None), ("a", Some(0))];
        assert_eq!(w.victim(&held), Some(1));
        let mine = [("a", Some(30_000)), ("a", Some(0)), ("a", Some(50_000))];
        assert_eq!(w.victim(&mine), Some(1), "40 s behind ranks as 80 s ahead");
        assert_eq!(w.victim(&[]), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_next_is_never_held(
            at in any::<u64>(), end in proptest::option::of(any::<u64>()), step in any::<u64>(),
            ahead in 0u32..50, limit in 0u32..200, full in any::<bool>(),
            held in proptest::collection::vec((0u8..3, proptest::option::of(any::<u64>())), 0..20),
        ) {
            let ids = ["a", "b", "c"];
            let w = Wanted {
                current: Some(Item { id: "a".into(), poster: true, at_ms: at, end_ms: end }),
                next: Some(Item { id: "b".into(), poster: false, at_ms: 0, end_ms: None }),
                step_ms: step,
                ahead,
            };
            let held: Vec<(&str, Image)> = held.iter().map(|(m, i)| (ids[usize::from(*m)], *i)).collect();
            if let Some((media, image)) = w.next(&held, full, limit) {
                prop_assert!(!held.contains(&(media, image)));
            }
            let _ = w.victim(&held);
            let ranks: Vec<u64> = w.candidates(limit).map(|(m, i)| w.rank(m, i).unwrap_or(u64::MAX)).collect();
            prop_assert!(ranks.windows(2).all(|p| p[0] <= p[1]), "soonest first: {:?}", ranks);
        }
    }
}
