//! Plausible market questions, categories, whale wallets and news headlines for the simulator.

use super::rng::Rng;

/// (category, question template, subjects, headline templates). `{}` is the subject; a headline
/// starts with `+` when it is good news for the first outcome ("YES"), `-` when it is bad news.
const CATALOG: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "politics",
        "Will {} win the election?",
        &["Alvarez", "Brennan", "Chowdhury", "Dubois", "Eriksen", "Fujita", "Garcia", "Haddad"],
        &["+{} surges in latest polls", "-{} trails after debate", "-Court rejects appeal by {}"],
    ),
    (
        "crypto",
        "Will {} close the month higher than it opened?",
        &["Bitcoin", "Ether", "Solana", "Dogecoin", "Cardano", "Polkadot", "Avalanche", "Chainlink"],
        &[
            "+{} rallies as funds pour in",
            "-{} falls after exchange outage",
            "+Regulator approves {} product",
        ],
    ),
    (
        "sports",
        "Will {} win the championship final?",
        &["the Falcons", "the Comets", "the Harbor Kings", "the Red Wolves", "United", "the Mariners"],
        &["-{} star ruled out with injury", "+{} win streak extends to nine", "+{} coach confirms lineup"],
    ),
    (
        "economy",
        "Will {} be above expectations in the next report?",
        &["US inflation", "euro-area growth", "US payrolls", "UK retail sales", "China exports"],
        &["+Analysts raise forecasts for {}", "-{} data delayed by shutdown", "-Surprise drop in {}"],
    ),
    (
        "science",
        "Will {} happen before the end of the year?",
        &["a crewed lunar flyby", "a fusion net-gain repeat", "the new telescope's first light"],
        &["+Agency confirms schedule for {}", "-Technical fault delays {}", "+Funding approved for {}"],
    ),
];

/// A generated market question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    pub(crate) category: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) text: String,
    headlines: &'static [&'static str],
}

/// Headlines about a question of the operator's own (its subject is unknown).
const OWN_HEADLINES: &[&str] = &[
    "+Support grows for {}",
    "+Analysts confirm gains for {}",
    "-Doubts grow over {}",
    "-Setback delays {}",
];

impl Question {
    /// Makes this the operator's own question `text`: category `custom`, generic headlines.
    pub(crate) fn replace_with_own(&mut self, text: &str) {
        text.clone_into(&mut self.text);
        self.category = "custom";
        self.subject = "this question";
        self.headlines = OWN_HEADLINES;
    }

    /// A headline about this question's subject: good news for the first outcome when `up`
    /// (the price jumps with it), bad news otherwise.
    pub(crate) fn headline(&self, rng: &mut Rng, up: bool) -> String {
        let sign = if up { '+' } else { '-' };
        let fitting: Vec<&str> = self.headlines.iter().filter_map(|h| h.strip_prefix(sign)).collect();
        rng.pick(&fitting).replace("{}", self.subject)
    }
}

/// `n` questions; beyond the catalogue's size they are told apart by a round number.
pub(crate) fn questions(n: usize, rng: &mut Rng) -> Vec<Question> {
    let mut all: Vec<(&'static str, &'static str, &'static str, &'static [&'static str])> = CATALOG
        .iter()
        .flat_map(|(cat, tmpl, subjects, heads)| subjects.iter().map(move |s| (*cat, *tmpl, *s, *heads)))
        .collect();
    // Fisher–Yates, so categories are mixed but every question is distinct.
    for i in (1..all.len()).rev() {
        let j = rng.below(i + 1);
        all.swap(i, j);
    }
    (0..n)
        .map(|i| {
            let (category, template, subject, headlines) = all[i % all.len()];
            let round = i / all.len();
            let mut text = template.replace("{}", subject);
            if round > 0 {
                text = text.replace('?', &format!(" (round {})?", round + 1));
            }
            Question { category, subject, text, headlines }
        })
        .collect()
}

/// A population of wallet addresses, deterministic from the generator.
pub(crate) fn wallets(n: usize, rng: &mut Rng) -> Vec<String> {
    (0..n)
        .map(|_| format!("0x{:016x}{:016x}{:08x}", rng.next_u64(), rng.next_u64(), rng.next_u64() >> 32))
        .collect()
}

/// A URL-safe slug of a question.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}
