//! Students searching the open sessions by lesson and teacher name.
//!
//! Each attendance-service replica keeps a [`SearchIndex`] of the open
//! sessions, so a search costs what its matches cost, not what the campus
//! has open. Names are compared normalised ([`normalise`]). Results are
//! ranked: the lesson (or, searching by teacher alone, the teacher's name)
//! equal to the needle, then starting with it, then containing it; newest
//! first within a rank; paged with an opaque token.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::{Invalid, SessionMeta};

/// The longest name a search may give.
pub const NEEDLE_MAX_CHARS: usize = 200;

/// Needles shorter than this match names that start with them only: one
/// or two letters occur inside most names, which would page through the
/// whole campus.
pub const CONTAINS_MIN_CHARS: usize = 3;

/// Lower case, runs of white space as one space, no white space at the ends.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// How well a name matches; better first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    Exact,
    Prefix,
    Contains,
}

impl Rank {
    /// How `name` matches `needle` (both normalised), by the rules above.
    pub fn of(name: &str, needle: &str) -> Option<Self> {
        if name == needle {
            Some(Self::Exact)
        } else if name.starts_with(needle) {
            Some(Self::Prefix)
        } else if needle.chars().count() >= CONTAINS_MIN_CHARS && name.contains(needle) {
            Some(Self::Contains)
        } else {
            None
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Self> {
        [Self::Exact, Self::Prefix, Self::Contains].into_iter().find(|rank| rank.code() == code)
    }
}

/// A student's search, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    lesson: String,
    teacher: String,
}

impl Query {
    pub fn new(lesson_name: &str, teacher_name: &str) -> Result<Self, Invalid> {
        let lesson = needle("lesson_name", lesson_name)?;
        let teacher = needle("teacher_name", teacher_name)?;
        if lesson.is_empty() && teacher.is_empty() {
            return Err(Invalid::new("lesson_name", "give a lesson name or a teacher name to search for"));
        }
        Ok(Self { lesson, teacher })
    }
}

fn needle(field: &'static str, value: &str) -> Result<String, Invalid> {
    if value.chars().count() > NEEDLE_MAX_CHARS {
        return Err(Invalid::new(field, format!("must be at most {NEEDLE_MAX_CHARS} characters")));
    }
    Ok(normalise(value))
}

/// Where the next page starts: after this result, in result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchCursor {
    rank: Rank,
    newest_first: std::cmp::Reverse<i64>,
    id: Uuid,
}

impl SearchCursor {
    fn of(rank: Rank, meta: &SessionMeta) -> Self {
        Self { rank, newest_first: std::cmp::Reverse(meta.start_ms), id: meta.attendance_id }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("s{}:{}:{}", self.rank.code(), self.newest_first.0, self.id))
    }

    /// Empty token: the first page.
    pub fn decode(token: &str) -> Result<Option<Self>, Invalid> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || Invalid::new("page_token", "is not a token this service gave out");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.strip_prefix('s').ok_or_else(invalid)?.splitn(3, ':');
        let (Some(rank), Some(start), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        Ok(Some(Self {
            rank: rank.parse().ok().and_then(Rank::from_code).ok_or_else(invalid)?,
            newest_first: std::cmp::Reverse(start.parse().map_err(|_| invalid())?),
            id: Uuid::try_parse(id).map_err(|_| invalid())?,
        }))
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub sessions: Vec<Arc<SessionMeta>>,
    /// Set when more results follow.
    pub next: Option<SearchCursor>,
}

/// Names of one kind (lessons or teachers), findable by start and by any
/// three characters inside them.
#[derive(Debug, Default)]
struct NameIndex {
    sorted: BTreeSet<(String, Uuid)>,
    names: HashMap<Uuid, String>,
    trigrams: HashMap<[char; 3], HashSet<Uuid>>,
}

fn trigrams(name: &str) -> HashSet<[char; 3]> {
    let chars: Vec<char> = name.chars().collect();
    chars.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

impl NameIndex {
    fn insert(&mut self, id: Uuid, name: String) {
        for trigram in trigrams(&name) {
            self.trigrams.entry(trigram).or_default().insert(id);
        }
        self.sorted.insert((name.clone(), id));
        self.names.insert(id, name);
    }

    fn remove(&mut self, id: Uuid) {
        let Some(name) = self.names.remove(&id) else {
            return;
        };
        for trigram in trigrams(&name) {
            if let Some(ids) = self.trigrams.get_mut(&trigram) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.trigrams.remove(&trigram);
                }
            }
        }
        self.sorted.remove(&(name, id));
    }

    fn name(&self, id: Uuid) -> &str {
        self.names.get(&id).map_or("", String::as_str)
    }

    /// Every id whose name matches `needle`, with how well: names starting
    /// with it from the sorted set, names containing it from the rarest of
    /// its three-character pieces.
    fn matches(&self, needle: &str) -> Vec<(Rank, Uuid)> {
        let mut found: Vec<(Rank, Uuid)> = self
            .sorted
            .range((needle.to_owned(), Uuid::nil())..)
            .take_while(|(name, _)| name.starts_with(needle))
            .map(|(name, id)| (if name == needle { Rank::Exact } else { Rank::Prefix }, *id))
            .collect();
        if needle.chars().count() < CONTAINS_MIN_CHARS {
            return found;
        }
        let rarest = trigrams(needle).into_iter().map(|trigram| self.trigrams.get(&trigram)).try_fold(
            None::<&HashSet<Uuid>>,
            |rarest, ids| {
                let ids = ids?;
                Some(Some(match rarest {
                    Some(r) if r.len() <= ids.len() => r,
                    _ => ids,
                }))
            },
        );
        if let Some(Some(candidates)) = rarest {
            found.extend(candidates.iter().filter_map(|id| {
                let name = self.name(*id);
                (!name.starts_with(needle) && name.contains(needle)).then_some((Rank::Contains, *id))
            }));
        }
        found
    }
}

/// The open sessions, searchable. Not shared between threads by itself:
/// the service wraps it in a lock.
#[derive(Debug, Default)]
pub struct SearchIndex {
    sessions: HashMap<Uuid, Arc<SessionMeta>>,
    lessons: NameIndex,
    teachers: NameIndex,
}

impl SearchIndex {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, id: Uuid) -> Option<&Arc<SessionMeta>> {
        self.sessions.get(&id)
    }

    /// Adds a session, or replaces the one with its id.
    pub fn insert(&mut self, meta: SessionMeta) {
        let id = meta.attendance_id;
        self.remove(id);
        self.lessons.insert(id, normalise(&meta.lesson_name));
        self.teachers.insert(id, normalise(&meta.teacher_full_name));
        self.sessions.insert(id, Arc::new(meta));
    }

    pub fn remove(&mut self, id: Uuid) {
        if self.sessions.remove(&id).is_some() {
            self.lessons.remove(id);
            self.teachers.remove(id);
        }
    }

    /// Removes every session `drop` picks (e.g. one shard's, before reloading it).
    pub fn remove_where(&mut self, drop: impl Fn(Uuid) -> bool) {
        let ids: Vec<Uuid> = self.sessions.keys().copied().filter(|id| drop(*id)).collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Up to `limit` results after `after`, among sessions `visible` admits
    /// (open now, say). With both names given, the lesson ranks and the
    /// teacher's name must contain the teacher needle.
    pub fn search(
        &self,
        query: &Query,
        after: Option<SearchCursor>,
        limit: usize,
        visible: impl Fn(&SessionMeta) -> bool,
    ) -> SearchPage {
        let (ranked_by, filter) = if query.lesson.is_empty() {
            (self.teachers.matches(&query.teacher), None)
        } else {
            (self.lessons.matches(&query.lesson), Some(query.teacher.as_str()).filter(|t| !t.is_empty()))
        };
        let mut results: Vec<(SearchCursor, &Arc<SessionMeta>)> = ranked_by
            .into_iter()
            .filter(|(_, id)| filter.is_none_or(|teacher| self.teachers.name(*id).contains(teacher)))
            .filter_map(|(rank, id)| self.sessions.get(&id).map(|meta| (SearchCursor::of(rank, meta), meta)))
            .filter(|(cursor, meta)| after.is_none_or(|after| *cursor > after) && visible(meta))
            .collect();
        results.sort_by_key(|(cursor, _)| *cursor);
        let more = results.len() > limit;
        results.truncate(limit);
        SearchPage {
            next: results.last().filter(|_| more).map(|(cursor, _)| *cursor),
            sessions: results.into_iter().map(|(_, meta)| Arc::clone(meta)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecurityOption;

    fn session(n: u128, lesson: &str, teacher: &str, start_ms: i64) -> SessionMeta {
        SessionMeta {
            attendance_id: Uuid::from_u128(n),
            lesson_name: lesson.into(),
            teacher_school_number: format!("T{n}"),
            teacher_full_name: teacher.into(),
            start_ms,
            end_ms: start_ms + 3_600_000,
            security_option: SecurityOption::Manual,
            networks: vec![],
            is_deleted: false,
            deletion_reason: None,
            deletion_time_ms: None,
            check_in_code_period_secs: None,
            course_code: None,
            allow_walk_ins: false,
            time_zone: None,
        }
    }

    fn lessons(page: &SearchPage) -> Vec<&str> {
        page.sessions.iter().map(|meta| meta.lesson_name.as_str()).collect()
    }

    fn index(sessions: &[SessionMeta]) -> SearchIndex {
        let mut index = SearchIndex::default();
        for meta in sessions {
            index.insert(meta.clone());
        }
        index
    }

    fn all(_: &SessionMeta) -> bool {
        true
    }

    #[test]
    fn names_are_compared_lower_case_with_single_spaces() {
        assert_eq!(normalise("  Linear   ALGEBRA\tII "), "linear algebra ii");
        assert_eq!(normalise("ÇALIŞMA"), "çalişma");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn exact_then_prefix_then_contains_newest_first_within_a_rank() {
        let index = index(&[
            session(1, "Advanced Algebra", "Grace Hopper", 10),
            session(2, "Algebra", "Ada Lovelace", 20),
            session(3, "Algebra II", "Alan Turing", 30),
            session(4, "Algebra I", "Alan Turing", 40),
            session(5, "Calculus", "Grace Hopper", 50),
            session(6, "Linear algebra", "Ada Lovelace", 60),
        ]);
        let page = index.search(&Query::new("algebra", "").unwrap(), None, 10, all);
        assert_eq!(lessons(&page), ["Algebra", "Algebra I", "Algebra II", "Linear algebra", "Advanced Algebra"]);
        assert!(page.next.is_none());
    }

    #[test]
    fn short_needles_match_the_start_of_names_only() {
        let index = index(&[session(1, "Databases", "A", 1), session(2, "Big Data", "B", 2)]);
        assert_eq!(lessons(&index.search(&Query::new("da", "").unwrap(), None, 10, all)), ["Databases"]);
        assert_eq!(lessons(&index.search(&Query::new("dat", "").unwrap(), None, 10, all)), ["Databases", "Big Data"]);
    }

    #[test]
    fn the_teacher_alone_ranks_by_teacher_and_with_a_lesson_filters() {
        let index = index(&[
            session(1, "Algebra", "Grace Hopper", 1),
            session(2, "Algebra", "Alan Turing", 2),
            session(3, "Compilers", "Grace Murray Hopper", 3),
        ]);
        let by_teacher = index.search(&Query::new("", "grace hopper").unwrap(), None, 10, all);
        assert_eq!(lessons(&by_teacher), ["Algebra"]);
        let by_teacher = index.search(&Query::new("", "hopper").unwrap(), None, 10, all);
        assert_eq!(lessons(&by_teacher), ["Compilers", "Algebra"]);
        let both = index.search(&Query::new("algebra", "TURING").unwrap(), None, 10, all);
        assert_eq!(both.sessions.iter().map(|m| m.attendance_id).collect::<Vec<_>>(), [Uuid::from_u128(2)]);
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let sessions: Vec<SessionMeta> =
            (0..57).map(|n| session(n, &format!("Physics {}", n % 7), "X", (n % 5) as i64)).collect();
        let index = index(&sessions);
        let query = Query::new("physics", "").unwrap();
        let everything = index.search(&query, None, 1_000, all);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let token = after.map(|c: SearchCursor| c.encode()).unwrap_or_default();
            let page = index.search(&query, SearchCursor::decode(&token).unwrap(), 10, all);
            paged.extend(page.sessions.iter().map(|m| m.attendance_id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(paged.len(), 57);
        assert_eq!(paged, everything.sessions.iter().map(|m| m.attendance_id).collect::<Vec<_>>());
    }

    #[test]
    fn sessions_not_visible_are_left_out() {
        let mut ended = session(2, "Algebra", "A", 2);
        ended.is_deleted = true;
        let index = index(&[session(1, "Algebra", "A", 1), ended]);
        let page = index.search(&Query::new("algebra", "").unwrap(), None, 10, |m| !m.is_deleted);
        assert_eq!(page.sessions.len(), 1);
    }

    #[test]
    fn replacing_and_removing_forget_the_old_names() {
        let mut index = index(&[session(1, "Algebra", "A", 1)]);
        index.insert(session(1, "Geometry", "A", 1));
        assert!(index.search(&Query::new("algebra", "").unwrap(), None, 10, all).sessions.is_empty());
        assert_eq!(index.search(&Query::new("ometr", "").unwrap(), None, 10, all).sessions.len(), 1);
        index.remove(Uuid::from_u128(1));
        assert!(index.is_empty());
        assert!(index.lessons.trigrams.is_empty() && index.teachers.sorted.is_empty());
    }

    #[test]
    fn the_index_finds_what_checking_every_session_finds() {
        let words = ["alg", "algebra", "lab", "a", "data", "base", "bases", "ab", "lg"];
        let mut sessions = Vec::new();
        for n in 0..300u128 {
            let lesson = format!(
                "{} {}",
                words[(n * 7 % 9) as usize],
                if n % 3 == 0 { "" } else { words[(n * 5 % 9) as usize] }
            );
            sessions.push(session(n, &lesson, words[(n % 9) as usize], (n % 11) as i64));
        }
        let index = index(&sessions);
        for lesson in ["", "a", "al", "alg", "ab", "lab", "base", "a lab", "data bases", "zzz", "b"] {
            for teacher in ["", "a", "lg", "base"] {
                let Ok(query) = Query::new(lesson, teacher) else { continue };
                let lesson = normalise(lesson);
                let teacher = normalise(teacher);
                let mut expected: Vec<(SearchCursor, Uuid)> = sessions
                    .iter()
                    .filter_map(|meta| {
                        let (name, filter) = if lesson.is_empty() {
                            (normalise(&meta.teacher_full_name), "")
                        } else {
                            (normalise(&meta.lesson_name), teacher.as_str())
                        };
                        let needle = if lesson.is_empty() { &teacher } else { &lesson };
                        let rank = Rank::of(&name, needle)?;
                        normalise(&meta.teacher_full_name)
                            .contains(filter)
                            .then(|| (SearchCursor::of(rank, meta), meta.attendance_id))
                    })
                    .collect();
                expected.sort();
                let found = index.search(&query, None, 10_000, all);
                let found: Vec<Uuid> = found.sessions.iter().map(|m| m.attendance_id).collect();
                assert_eq!(found, expected.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), "{lesson:?} {teacher:?}");
            }
        }
    }

    #[test]
    fn bad_searches_name_their_field() {
        assert_eq!(Query::new("  ", "").unwrap_err().field, "lesson_name");
        assert_eq!(Query::new(&"x".repeat(201), "").unwrap_err().field, "lesson_name");
        assert_eq!(Query::new("", &"x".repeat(201)).unwrap_err().field, "teacher_name");
    }

    #[test]
    fn forged_page_tokens_are_invalid() {
        let cursor = SearchCursor::of(Rank::Prefix, &session(9, "A", "B", 77));
        assert_eq!(SearchCursor::decode(&cursor.encode()).unwrap(), Some(cursor));
        for bad in ["%%%", "bm9wZQ", &URL_SAFE_NO_PAD.encode("s9:1:00000000-0000-0000-0000-000000000000")] {
            assert_eq!(SearchCursor::decode(bad).unwrap_err().field, "page_token", "{bad}");
        }
    }
}
