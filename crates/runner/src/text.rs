//! Inputs as an error message shows them: a path or value of any length
//! (a 50 MB argument, say) is cut to a readable one, its start and end kept
//! and the cut counted, so a message stays a message.

use std::borrow::Cow;
use std::path::Path;

/// The most characters of one input a message shows whole.
pub const MAX_SHOWN: usize = 240;
/// Characters kept from an input's start and end when it is cut.
const HEAD: usize = 120;
const TAIL: usize = 80;

/// `text` as a message shows it: itself up to [`MAX_SHOWN`] characters;
/// longer, its first 120 and last 80 characters around a note of how many
/// were left out.
#[must_use]
pub fn abbreviate(text: &str) -> Cow<'_, str> {
    let chars = text.chars().count();
    if chars <= MAX_SHOWN {
        return Cow::Borrowed(text);
    }
    let head_end = text.char_indices().nth(HEAD).map_or(text.len(), |(i, _)| i);
    let tail_start = text.char_indices().nth(chars - TAIL).map_or(text.len(), |(i, _)| i);
    let omitted = chars - HEAD - TAIL;
    Cow::Owned(format!("{}…[{omitted} characters]…{}", &text[..head_end], &text[tail_start..]))
}

/// A path as a message shows it (lossy for a path that is not UTF-8, and
/// [`abbreviate`]d).
#[must_use]
pub fn path(path: &Path) -> String {
    abbreviate(&path.to_string_lossy()).into_owned()
}

/// A whole message with every run of characters between spaces
/// [`abbreviate`]d: for the last step before a message is printed, when
/// parts of it (an external program's output, an OS error quoting its
/// argument) were not made here.
#[must_use]
pub fn abbreviate_words(message: &str) -> Cow<'_, str> {
    if message.split([' ', '\n']).all(|word| word.chars().count() <= MAX_SHOWN) {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(4 * MAX_SHOWN);
    for (i, line) in message.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(&abbreviate(word));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_itself_and_long_text_keeps_its_ends() {
        assert_eq!(abbreviate("runs/a"), "runs/a");
        let exact = "x".repeat(MAX_SHOWN);
        assert_eq!(abbreviate(&exact), exact);
        let long = format!("/start{}end.ron", "é".repeat(50_000_000 / 2));
        let shown = abbreviate(&long);
        assert!(shown.starts_with("/startéé") && shown.ends_with("éend.ron"), "{shown}");
        let total = long.chars().count();
        assert!(shown.contains(&format!("[{} characters]", total - HEAD - TAIL)), "{shown}");
        assert!(shown.chars().count() < MAX_SHOWN + 40);
    }

    #[test]
    fn every_long_word_of_a_message_is_cut() {
        let message =
            format!("cannot read configuration {}: File name too long\nsee {}", "a".repeat(1000), "b".repeat(300));
        let shown = abbreviate_words(&message);
        assert!(shown.starts_with("cannot read configuration aaa") && shown.contains(": File name too long\nsee bbb"));
        assert!(shown.len() < 600, "{shown}");
        assert_eq!(abbreviate_words("short words only"), "short words only");
    }
}
