//! The public suffix list (<https://publicsuffix.org/>) as data, and its algorithm
//! (<https://github.com/publicsuffix/list/wiki/Format>, "Algorithm"), for the rpId and
//! AppID checks. The list is `data/public_suffix_list.txt`: python-fido2 2.2.1's copy
//! (the one its `verify_rp_id` uses; MPL-2.0, see `data/README.md`), rules only, IDN
//! rules in their punycode form, sorted by bytes, so a rule is found by a binary search
//! of the lines themselves: no index, no code generated from the list. The binary holds
//! it as raw DEFLATE (`data/public_suffix_list.deflate`, 44 KiB instead of 141 KiB),
//! inflated once, at the first lookup (about a millisecond; the 141 KiB then stay in
//! memory).
//!
//! Both of the list's sections count, ICANN and PRIVATE (`github.io` is a public suffix),
//! as in python-fido2, the `psl` crate this replaces, and browsers.
//!
//! Names are expected as the rpId check has them: lower-case ASCII (an origin's host is
//! lower-cased and must be ASCII, punycode for IDNs), labels separated by dots, an
//! optional trailing dot (a fully qualified name: its answers leave the dot out, as
//! `psl`'s `suffix_str` and `domain_str` did). Any other
//! string gets an answer too (rules are plain strings: one with upper case or other
//! bytes matches no rule but the default `*`), never a panic, and the work per lookup is
//! bounded: at most [`MAX_RULE_LABELS`] labels from the right are looked up, each with
//! three binary searches.

/// The list, `data/public_suffix_list.txt` as raw DEFLATE (RFC 1951): a header of `//`
/// lines, a blank line, then one rule per line (`rule`, `*.rule` or `!rule`), sorted
/// by bytes, every line ending in `\n`. A test checks that it inflates to the text.
const LIST_DEFLATED: &[u8] = include_bytes!("../../data/public_suffix_list.deflate");

/// At most this many bytes are inflated (the list is 141 KiB; a test checks it fits).
const LIST_LIMIT: usize = 512 * 1024;

/// The most labels any rule of [`LIST`] has (the `*` of a wildcard counts; a test
/// checks it). A matching rule has no more labels than this, so labels further left in
/// a name are never looked up.
const MAX_RULE_LABELS: usize = 7;

/// The list, inflated at the first call. `None` if it does not inflate (it does: a
/// test checks it), and then every lookup answers `None`, so the rpId and AppID checks
/// fail closed.
fn list() -> Option<&'static [u8]> {
    static LIST: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        miniz_oxide::inflate::decompress_to_vec_with_limit(LIST_DEFLATED, LIST_LIMIT).ok()
    })
    .as_deref()
}

/// The rules: the list after its header.
fn rules() -> Option<&'static [u8]> {
    let list = list()?;
    let blank = list.windows(2).position(|pair| pair == b"\n\n")?;
    list.get(blank + 2..)
}

/// Whether `prefix` followed by `name` is a line of the sorted `rules`: a binary
/// search over byte offsets, each probe widened to the line it falls in.
fn has_rule(rules: &[u8], prefix: &[u8], name: &[u8]) -> bool {
    let (mut low, mut high) = (0, rules.len());
    // Invariant: `low` and `high` are line starts (or the end), and the rule, if
    // present, starts in low..high. Each round makes that range strictly smaller.
    while low < high {
        let middle = low + (high - low) / 2;
        let Some(before) = rules.get(low..middle) else {
            return false;
        };
        let start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(low, |newline| low + newline + 1);
        let Some(from_start) = rules.get(start..high) else {
            return false;
        };
        let length = from_start
            .iter()
            .position(|&byte| byte == b'\n')
            .unwrap_or(from_start.len());
        let line = from_start.get(..length).unwrap_or_default();
        match prefix.iter().chain(name).cmp(line.iter()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => high = start,
            std::cmp::Ordering::Greater => low = start + length + 1,
        }
    }
    false
}

/// A name's labels from the right: where each of the last few starts.
struct Labels<'a> {
    /// The name without its trailing dot, if it had one.
    base: &'a str,
    /// `starts[k - 1]`: the byte offset in `base` of the `k`-th label from the right.
    starts: [usize; MAX_RULE_LABELS + 1],
    /// How many of `starts` are set (`base` has at least this many labels).
    count: usize,
}

impl<'a> Labels<'a> {
    fn of(base: &'a str) -> Self {
        let bytes = base.as_bytes();
        let mut starts = [0; MAX_RULE_LABELS + 1];
        let mut count = 0;
        let mut end = bytes.len();
        while count < starts.len() {
            let start = bytes
                .get(..end)
                .and_then(|left| left.iter().rposition(|&byte| byte == b'.'))
                .map_or(0, |dot| dot + 1);
            starts[count] = start;
            count += 1;
            if start == 0 {
                break;
            }
            end = start - 1;
        }
        Labels {
            base,
            starts,
            count,
        }
    }

    /// The last `k` labels (1 <= k <= count), as a suffix of `base`.
    fn last(&self, k: usize) -> &'a str {
        k.checked_sub(1)
            .and_then(|index| self.starts.get(index))
            .and_then(|&start| self.base.get(start..))
            .unwrap_or_default()
    }

    /// Whether the `k`-th label from the right is empty (as in `a..b` or `.b`).
    fn is_empty(&self, k: usize) -> bool {
        let end = if k == 1 {
            self.base.len()
        } else {
            self.starts
                .get(k - 2)
                .map_or(0, |&next| next.saturating_sub(1))
        };
        self.starts.get(k - 1).is_none_or(|&start| start >= end)
    }
}

/// Whether `name` can only match a plain rule, not an exception's or wildcard's line
/// (a name never has those characters, but any string gets a right answer).
fn is_plain(name: &[u8]) -> bool {
    !name.starts_with(b"!") && !name.starts_with(b"*")
}

/// How many labels from the right of `labels` are the public suffix, by the list's
/// algorithm; `None` for a name whose last label is empty.
fn suffix_labels(labels: &Labels<'_>) -> Option<usize> {
    if labels.is_empty(1) {
        return None;
    }
    let rules = rules()?;
    // Step 2 of the algorithm: no rule matches, the prevailing rule is "*".
    let mut longest = 1;
    let mut exception = None;
    for k in 1..=labels.count.min(MAX_RULE_LABELS) {
        let candidate = labels.last(k).as_bytes();
        if has_rule(rules, b"!", candidate) {
            // Step 3: an exception rule prevails (the longest, should two match).
            exception = Some(k);
        } else if (is_plain(candidate) && has_rule(rules, b"", candidate))
            || (k >= 2 && has_rule(rules, b"*.", labels.last(k - 1).as_bytes()))
        {
            // Step 4: otherwise the rule with the most labels.
            longest = k;
        }
    }
    // Step 5: an exception rule's leftmost label is not part of the suffix.
    Some(exception.map_or(longest, |k| k - 1))
}

/// The public suffix of `name` (python-fido2's `_is_public_suffix(x)` is
/// `suffix(x) == Some(x)`): the default rule `*` makes it at least the last label.
/// `None` for an empty name or one whose last label is empty. A trailing dot (a fully
/// qualified name) is left out of the answer.
pub(super) fn suffix(name: &str) -> Option<&str> {
    let labels = Labels::of(name.strip_suffix('.').unwrap_or(name));
    let k = suffix_labels(&labels)?;
    Some(labels.last(k))
}

/// The registrable domain of `name`: its public suffix and the label before it.
/// `None` when `name` is a public suffix itself, or that label is empty. A trailing
/// dot is left out of the answer.
pub(super) fn registrable_domain(name: &str) -> Option<&str> {
    let labels = Labels::of(name.strip_suffix('.').unwrap_or(name));
    let k = suffix_labels(&labels)? + 1;
    if k > labels.count || labels.is_empty(k) {
        return None;
    }
    Some(labels.last(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list as committed, readable.
    const LIST_TEXT: &str = include_str!("../../data/public_suffix_list.txt");

    fn rule_lines() -> impl Iterator<Item = &'static str> {
        std::str::from_utf8(rules().unwrap()).unwrap().lines()
    }

    #[test]
    fn the_deflated_list_is_the_text() {
        assert_eq!(list(), Some(LIST_TEXT.as_bytes()));
        assert!(LIST_TEXT.len() < LIST_LIMIT);
        assert!(LIST_TEXT.starts_with("// The Public Suffix List"));
    }

    #[test]
    fn the_list_is_sorted_ascii_lines_within_the_label_bound() {
        assert!(LIST_TEXT.is_ascii());
        assert!(LIST_TEXT.ends_with('\n'));
        let lines: Vec<&str> = rule_lines().collect();
        // python-fido2 2.2.1's list has 10,229 rules (a few IDN rules fold into
        // one punycode form with their ASCII twin).
        assert!(lines.len() > 10_000, "{}", lines.len());
        assert!(
            lines.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, unique"
        );
        for line in &lines {
            assert!(!line.is_empty() && !line.starts_with("//"), "{line:?}");
            assert!(line.split('.').count() <= MAX_RULE_LABELS, "{line}");
            let bare = line.trim_start_matches('!').trim_start_matches("*.");
            assert!(bare.split('.').all(|label| !label.is_empty()), "{line}");
        }
        // The bound is tight: some rule has that many labels.
        assert!(
            lines
                .iter()
                .any(|line| line.split('.').count() == MAX_RULE_LABELS)
        );
        // Every rule is found by the search, and a near miss is not.
        for line in &lines {
            assert!(has_rule(rules().unwrap(), b"", line.as_bytes()), "{line}");
            assert!(!has_rule(
                rules().unwrap(),
                b"",
                format!("{line}-").as_bytes()
            ));
            assert!(!has_rule(
                rules().unwrap(),
                b"",
                format!("0{line}").as_bytes()
            ));
        }
    }

    #[test]
    fn icann_rules() {
        // The list's ICANN section: a TLD, a second-level registry.
        assert_eq!(suffix("example.com"), Some("com"));
        assert_eq!(registrable_domain("www.example.com"), Some("example.com"));
        assert_eq!(suffix("com"), Some("com"));
        assert_eq!(registrable_domain("com"), None);
        assert_eq!(suffix("www.example.co.uk"), Some("co.uk"));
        assert_eq!(
            registrable_domain("www.example.co.uk"),
            Some("example.co.uk")
        );
        assert_eq!(registrable_domain("co.uk"), None);
        // A real-life RP: Microsoft's login host.
        assert_eq!(
            registrable_domain("login.microsoftonline.com"),
            Some("microsoftonline.com")
        );
        // An IDN rule, found in its punycode form (公司.cn).
        assert_eq!(suffix("shop.xn--55qx5d.cn"), Some("xn--55qx5d.cn"));
    }

    #[test]
    fn private_rules() {
        // The PRIVATE section counts: each user's pages are their own site.
        assert_eq!(suffix("user.github.io"), Some("github.io"));
        assert_eq!(registrable_domain("user.github.io"), Some("user.github.io"));
        assert_eq!(registrable_domain("github.io"), None);
        assert_eq!(suffix("app.herokuapp.com"), Some("herokuapp.com"));
        // Longest rule wins: blogspot.com under com.
        assert_eq!(suffix("a.blogspot.com"), Some("blogspot.com"));
    }

    #[test]
    fn wildcard_and_exception_rules() {
        // `*.ck` and `!www.ck`: any name under ck is a suffix, except www.ck.
        assert_eq!(suffix("foo.ck"), Some("foo.ck"));
        assert_eq!(suffix("a.foo.ck"), Some("foo.ck"));
        assert_eq!(registrable_domain("b.a.foo.ck"), Some("a.foo.ck"));
        assert_eq!(registrable_domain("foo.ck"), None);
        assert_eq!(suffix("www.ck"), Some("ck"));
        assert_eq!(registrable_domain("www.ck"), Some("www.ck"));
        assert_eq!(registrable_domain("a.www.ck"), Some("www.ck"));
        // `ck` itself is under no rule but the default `*`.
        assert_eq!(suffix("ck"), Some("ck"));
        // Japanese cities: `*.kawasaki.jp` with `!city.kawasaki.jp`.
        assert_eq!(suffix("x.ward.kawasaki.jp"), Some("ward.kawasaki.jp"));
        assert_eq!(suffix("city.kawasaki.jp"), Some("kawasaki.jp"));
        assert_eq!(
            registrable_domain("www.city.kawasaki.jp"),
            Some("city.kawasaki.jp")
        );
        // A wildcard whose node has longer rules under it (`*.run.app` and
        // `*.mtls.run.app`): mtls.run.app is matched by the first, so it is a public
        // suffix, as in python-fido2's `_is_public_suffix` (the `psl` crate said `app`).
        assert_eq!(suffix("mtls.run.app"), Some("mtls.run.app"));
        assert_eq!(suffix("a.mtls.run.app"), Some("a.mtls.run.app"));
        assert_eq!(
            registrable_domain("b.a.mtls.run.app"),
            Some("b.a.mtls.run.app")
        );
        assert_eq!(
            registrable_domain("x.service.run.app"),
            Some("x.service.run.app")
        );
    }

    #[test]
    fn default_rule_and_odd_names() {
        // No rule: the last label (the default rule `*`).
        assert_eq!(suffix("example.unknowntld"), Some("unknowntld"));
        assert_eq!(
            registrable_domain("a.example.unknowntld"),
            Some("example.unknowntld")
        );
        // Fully qualified names: the answer without the dot (as `psl` gave).
        assert_eq!(suffix("example.co.uk."), Some("co.uk"));
        assert_eq!(
            registrable_domain("www.example.co.uk."),
            Some("example.co.uk")
        );
        // Empty labels: no answer where one would be the suffix or registrable label.
        for name in ["", ".", "..", "com..", "example."] {
            assert_eq!(suffix(name).is_none(), name != "example.", "{name:?}");
        }
        assert_eq!(suffix("example."), Some("example"));
        assert_eq!(registrable_domain(".com"), None);
        assert_eq!(registrable_domain("a..com"), None);
        assert_eq!(suffix("a..com"), Some("com"));
        // Upper case matches no rule (callers lower-case first).
        assert_eq!(suffix("EXAMPLE.CO.UK"), Some("UK"));
    }

    #[test]
    fn any_string_is_answered_within_the_label_bound() {
        // Far more labels than any rule: only the last few are looked up.
        let long = "a.".repeat(100_000) + "example.co.uk";
        assert_eq!(registrable_domain(&long), Some("example.co.uk"));
        for name in [
            "\u{e9}.\u{e9}",
            "*.ck",
            "!www.ck",
            "\n",
            "a\nb.com",
            "//",
            "\0",
        ] {
            let _ = (suffix(name), registrable_domain(name));
        }
        assert_eq!(suffix("*.ck"), Some("*.ck"));
        assert_eq!(suffix("!www.ck"), Some("!www.ck"));
    }

    proptest::proptest! {
        /// Any string: no panic, and the answers are the name's own last labels, the
        /// registrable domain one label longer than the suffix.
        #[test]
        fn answers_are_suffixes_of_the_name(
            name in "([a-z0-9*!-]{0,4}\\.){0,9}[a-z0-9*!-]{0,4}\\.?|\\PC{0,30}"
        ) {
            let base = name.strip_suffix('.').unwrap_or(&name);
            if let Some(public) = suffix(&name) {
                proptest::prop_assert!(!public.is_empty() && base.ends_with(public));
                proptest::prop_assert!(
                    public.len() == base.len()
                        || base[..base.len() - public.len()].ends_with('.')
                );
            }
            if let Some(domain) = registrable_domain(&name) {
                let public = suffix(&name).unwrap_or_default();
                proptest::prop_assert!(base.ends_with(domain));
                let dotted = [".", public].concat();
                proptest::prop_assert!(domain.ends_with(&dotted) && domain.len() > dotted.len());
                proptest::prop_assert!(!domain[..domain.len() - public.len() - 1].contains('.'));
            }
        }
    }
}
