//! How specific a template's match is, as a value: the best match is the maximum.
//!
//! Like ESPv2's route sort, precedence is decided segment by segment from the
//! left: at the first position where two matches differ, an exact literal beats
//! `{x}`/`*`, which beats the path ending there, which beats `{x=**}`/`**`. Only
//! when every position ties does a custom verb count (a longer verb is more specific).

/// What a template put at one position of the path. Declared lowest first, so
/// the derived order is the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rank {
    /// `**` / `{x=**}`: the rest of the path, zero or more segments.
    Multi,
    /// The template ends here (only competes with a `**` matching nothing).
    End,
    /// `*` / `{x}`: one non-empty segment.
    Single,
    /// An exact literal segment.
    Literal,
}

/// The ordered summary of one match. Every match of a path covers the same
/// segments and ends with [`Rank::End`] or [`Rank::Multi`], so no rank list is
/// a strict prefix of another and lexicographic order is the precedence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Specificity {
    pub ranks: Vec<Rank>,
    /// Length of the custom verb the template requires; `None` without a verb.
    pub verb_len: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::Rank::*;
    use super::*;

    fn spec(ranks: &[Rank], verb_len: Option<usize>) -> Specificity {
        Specificity {
            ranks: ranks.to_vec(),
            verb_len,
        }
    }

    #[test]
    fn left_segment_decides_first() {
        // /a/{x}/c beats /{x}/b/c: position 0 decides.
        assert!(
            spec(&[Literal, Single, Literal, End], None)
                > spec(&[Single, Literal, Literal, End], None)
        );
        // exact beats {x} beats **.
        assert!(spec(&[Literal, Literal, End], None) > spec(&[Literal, Single, End], None));
        assert!(spec(&[Literal, Single, End], None) > spec(&[Literal, Multi], None));
        // /a beats /a/** on `/a/`.
        assert!(spec(&[Literal, End], None) > spec(&[Literal, Multi], None));
    }

    #[test]
    fn verb_only_breaks_ties() {
        assert!(spec(&[Literal, Single, End], Some(3)) > spec(&[Literal, Single, End], None));
        assert!(spec(&[Literal, Single, End], Some(3)) > spec(&[Literal, Single, End], Some(1)));
        assert!(spec(&[Literal, Literal, End], None) > spec(&[Literal, Single, End], Some(6)));
    }
}
