//! Edits of one provider's `[[override]]` table in a rules document's text, keeping the rest
//! of the text as it is (comments, order, layout): what `zkmesh provider disable|enable|weight`
//! publish, so an operator's comments survive a switch.
//!
//! The edit mirrors `registry::Rules::set_override`: the provider's address-only override
//! tables go, and the new one is appended (the last matching override wins), carrying the
//! comments of the last table it replaces. [`crate::RulesStore`] publishes the edited text
//! only when it parses to exactly the rules `set_override` gives, and the re-serialized rules
//! otherwise.

use registry::Action;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

/// `text` with the address-only override of `address` replaced by `action` (`None`: removed),
/// or `None` when `text` is not a TOML document this edit understands.
pub(crate) fn set_override_text(text: &str, address: &str, action: Option<Action>) -> Option<String> {
    let mut doc: DocumentMut = text.parse().ok()?;
    let item = doc.entry("override").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let tables = item.as_array_of_tables_mut()?;
    let mut replaced: Option<Table> = None;
    let mut kept = ArrayOfTables::new();
    for table in tables.iter() {
        let own = table.get("address").and_then(Item::as_str) == Some(address)
            && table.get("match").is_none_or(|m| m.as_table_like().is_some_and(|t| t.is_empty()));
        if own {
            replaced = Some(table.clone());
        } else {
            kept.push(table.clone());
        }
    }
    if let Some(action) = action {
        let mut table = replaced.unwrap_or_default();
        for key in ["match", "disabled", "weight", "factor"] {
            table.remove(key);
        }
        table.set_position(None); // written after every positioned table: last
        table["address"] = value(address);
        match action {
            Action::Disable => table["disabled"] = value(true),
            Action::Weight(weight) => table["weight"] = value(i64::from(weight)),
            Action::Factor(factor) => table["factor"] = value(factor),
            _ => return None, // an action this edit does not know: the store re-serializes
        }
        kept.push(table);
    }
    if kept.is_empty() {
        doc.remove("override");
    } else {
        *tables = kept;
    }
    Some(doc.to_string())
}

#[cfg(test)]
mod tests {
    use registry::Rules;

    use super::*;

    const DOC: &str = "# greeter's rules, owned by team-a\n\
        [tags]\nstrict = false # canary falls back\n\n\
        # out for the kernel patch (OPS-12)\n[[override]]\naddress = \"10.0.0.5:8080\"\ndisabled = true\n\n\
        # az2 is half as fast\n[[override]]\nmatch = { zone = \"az2\" }\nfactor = 0.5\n";

    /// The edit parses to what `Rules::set_override` gives.
    fn same_as_set_override(text: &str, address: &str, action: Option<Action>) -> String {
        let edited = set_override_text(text, address, action).expect("edits");
        let mut rules = Rules::parse(text).expect("valid");
        rules.set_override(address, action);
        assert_eq!(Rules::parse(&edited).expect("edited is valid"), rules, "{edited}");
        edited
    }

    #[test]
    fn a_switch_keeps_every_comment_and_edits_only_its_table() {
        let weighed = same_as_set_override(DOC, "10.0.0.5:8080", Some(Action::Weight(20)));
        for comment in ["# greeter's rules", "# canary falls back", "# out for the kernel patch", "# az2 is"]
        {
            assert!(weighed.contains(comment), "{comment} kept:\n{weighed}");
        }
        assert!(weighed.contains("weight = 20") && !weighed.contains("disabled"), "{weighed}");
        let enabled = same_as_set_override(&weighed, "10.0.0.5:8080", None);
        assert!(enabled.contains("# az2 is half as fast") && !enabled.contains("10.0.0.5"), "{enabled}");
        let disabled = same_as_set_override(&enabled, "10.0.0.6:8080", Some(Action::Disable));
        assert!(disabled.starts_with("# greeter's rules"), "{disabled}");
        assert!(disabled.contains("address = \"10.0.0.6:8080\"\ndisabled = true"), "{disabled}");
        let empty = same_as_set_override("", "10.0.0.6:8080", Some(Action::Disable));
        let removed = same_as_set_override(&empty, "10.0.0.6:8080", None);
        assert!(!removed.contains("override"), "{removed}");
    }

    #[test]
    fn the_override_moves_last_so_it_still_wins() {
        let text = "[[override]]\naddress = \"h:1\"\nweight = 5\n[[override]]\nmatch = { zone = \"a\" }\nfactor = 2.0\n";
        let edited = same_as_set_override(text, "h:1", Some(Action::Disable));
        assert!(edited.find("disabled").expect("disabled") > edited.find("zone").expect("zone"), "{edited}");
    }
}
