//! Reading a Prometheus text exposition (the controller's `/metrics`).

use std::collections::BTreeMap;

/// Every sample of metric `name` (exactly that name, with or without labels) as
/// (labels, value); comments and other metrics sharing the prefix are skipped.
pub fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
                rest.split_once('}')?
            } else if rest.starts_with(' ') {
                ("", rest)
            } else {
                return None; // another metric with this prefix
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            let labels = labels
                .split("\",")
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((
                        k.trim_matches(',').to_owned(),
                        v.trim_matches('"').to_owned(),
                    ))
                })
                .collect();
            Some((labels, value))
        })
        .collect()
}

/// The sum of every sample of metric `name`.
pub fn sum(text: &str, name: &str) -> f64 {
    samples(text, name).iter().map(|(_, v)| v).sum()
}

/// The sum of the samples of `name` whose labels include every `(label, value)` of `labels`.
pub fn sum_where(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .iter()
        .filter(|(have, _)| {
            labels
                .iter()
                .all(|(k, v)| have.get(*k).is_some_and(|h| h == v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The samples of `name` summed by the value of `label` (a missing label counts as `?`).
pub fn sum_by(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (labels, value) in samples(text, name) {
        let key = labels.get(label).cloned().unwrap_or_else(|| "?".into());
        *out.entry(key).or_insert(0.0) += value;
    }
    out
}

/// The value of the one sample written exactly `series` (name and labels as exposed, e.g.
/// `sealed_secrets_controller_leader` or `x_total{reason="a"}`).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_total x\nx_total{reason=\"a\",path=\"/v1/verify\"} 2\nx_total{reason=\"b\"} 3\nx_total_other 7\ny 1.5\n";

    #[test]
    fn parses_samples() {
        assert_eq!(sum(TEXT, "x_total"), 5.0);
        assert_eq!(sum(TEXT, "y"), 1.5);
        assert_eq!(sum_where(TEXT, "x_total", &[("path", "/v1/verify")]), 2.0);
        assert_eq!(sum_by(TEXT, "x_total", "reason")["b"], 3.0);
        assert_eq!(value(TEXT, "x_total{reason=\"b\"}"), Some(3.0));
        assert_eq!(value(TEXT, "y"), Some(1.5));
        assert_eq!(value(TEXT, "x_total"), None);
    }
}
