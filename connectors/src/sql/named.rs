//! Named parameters (`:owner`) in a statement, for databases that number theirs: PostgreSQL
//! takes `$1`, `$2`... The scan skips what is not SQL code (quoted text and names, comments,
//! dollar-quoted bodies) and casts (`::text`), so only real parameters are renamed.

/// A statement with its named parameters numbered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Numbered {
    /// The statement with `$n` for each parameter.
    pub(crate) sql: String,
    /// The parameters' names, `$1` first; a name used twice has one number.
    pub(crate) names: Vec<String>,
}

/// Numbers the `:name` parameters of `sql`.
pub(crate) fn number(sql: &str) -> Numbered {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut names: Vec<String> = Vec::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let skip = match bytes[i] {
            b'\'' | b'"' => quoted(rest, bytes[i]),
            b'-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            b'/' if rest.starts_with("/*") => rest[2..].find("*/").map_or(rest.len(), |end| end + 4),
            b'$' => dollar_quoted(rest).unwrap_or(1),
            b':' if rest.starts_with("::") => 2,
            b':' => {
                let name_len = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len() - 1);
                let name = &rest[1..1 + name_len];
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    let number = match names.iter().position(|n| n == name) {
                        Some(at) => at + 1,
                        None => {
                            names.push(name.to_owned());
                            names.len()
                        }
                    };
                    out.push('$');
                    out.push_str(&number.to_string());
                    i += 1 + name_len;
                    continue;
                }
                1
            }
            _ => rest.chars().next().map_or(1, char::len_utf8),
        };
        out.push_str(&rest[..skip]);
        i += skip;
    }
    Numbered { sql: out, names }
}

/// The length of the quoted text at the start of `rest` (a doubled quote is one inside it).
fn quoted(rest: &str, quote: u8) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The length of a dollar-quoted body (`$$...$$`, `$tag$...$tag$`) at the start of `rest`.
fn dollar_quoted(rest: &str) -> Option<usize> {
    let tag_end = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))? + 1;
    if rest.as_bytes()[tag_end] != b'$' || rest[1..tag_end].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let tag = &rest[..=tag_end];
    rest[tag.len()..].find(tag).map(|end| tag.len() + end + tag.len()).or(Some(rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_once_each_in_order() {
        let numbered = number("SELECT * FROM media WHERE owner = :owner AND (kind = :kind OR :owner = 'admin')");
        assert_eq!(numbered.sql, "SELECT * FROM media WHERE owner = $1 AND (kind = $2 OR $1 = 'admin')");
        assert_eq!(numbered.names, ["owner", "kind"]);
    }

    #[test]
    fn text_names_comments_casts_and_dollar_bodies_are_left_alone() {
        let sql = "SELECT ':no', \"a:b\", x::text, $$ :no $$, $f$ :no $f$ -- :no\n/* :no */ FROM t WHERE y = :yes AND z = $1";
        let numbered = number(sql);
        assert_eq!(numbered.names, ["yes"]);
        assert_eq!(numbered.sql, sql.replace(":yes", "$1"));
    }

    #[test]
    fn quotes_doubled_inside_text_do_not_end_it() {
        let numbered = number("INSERT INTO t VALUES ('it''s :no', :name)");
        assert_eq!(numbered.sql, "INSERT INTO t VALUES ('it''s :no', $1)");
        assert_eq!(numbered.names, ["name"]);
    }
}
