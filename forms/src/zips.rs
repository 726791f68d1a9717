//! San Diego County ZIP codes, with city, neighbourhood and centroid.
//!
//! The data is `content/data/sd-county-zips.csv` (extracted by
//! `forms/scripts/sd_county_zips.py`; source in
//! `content/data/SOURCES.md`) and `content/data/sd-neighborhoods.csv`
//! (community names added by hand), compiled into the crate so the validator
//! needs no files at run time.

use std::sync::LazyLock;

/// One ZIP code of San Diego County.
#[derive(Debug, Clone, PartialEq)]
pub struct Zip {
    /// Five digits.
    pub code: &'static str,
    /// `standard`, `po_box` or `unique`.
    pub kind: &'static str,
    /// The postal city.
    pub city: &'static str,
    /// Community name(s) people use, where known.
    pub neighborhood: Option<&'static str>,
    /// Centroid latitude, degrees.
    pub lat: f64,
    /// Centroid longitude, degrees.
    pub lon: f64,
}

const ZIPS_CSV: &str = include_str!("../../content/data/sd-county-zips.csv");
const NEIGHBORHOODS_CSV: &str = include_str!("../../content/data/sd-neighborhoods.csv");

static ZIPS: LazyLock<Vec<Zip>> = LazyLock::new(|| parse(ZIPS_CSV, NEIGHBORHOODS_CSV));

/// Parses the two compiled-in files. They are checked by this crate's tests,
/// so a malformed row is a build defect, not an input error.
fn parse(zips: &'static str, neighborhoods: &'static str) -> Vec<Zip> {
    let names: Vec<(&str, &str)> = neighborhoods
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(','))
        .collect();
    let mut all: Vec<Zip> = zips
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split(',').collect();
            let [code, kind, city, lat, lon] = cols[..] else {
                panic!("content/data/sd-county-zips.csv: a row without 5 columns: {line}");
            };
            Zip {
                code,
                kind,
                city,
                neighborhood: names.iter().find(|(z, _)| *z == code).map(|(_, n)| *n),
                lat: lat.parse().expect("latitude is a number"),
                lon: lon.parse().expect("longitude is a number"),
            }
        })
        .collect();
    all.sort_by(|a, b| a.code.cmp(b.code));
    all
}

/// Every ZIP code of the county, sorted.
pub fn all() -> &'static [Zip] {
    &ZIPS
}

/// The county ZIP with this code, if it is one. The code is read as it
/// shows: display controls and edge spaces (a record stored before
/// validation removed them) do not count, so a ZIP is placed on the map
/// exactly when it is shown as that ZIP.
pub fn find(code: &str) -> Option<&'static Zip> {
    let shown = crate::normalize::single_line(code);
    let all = all();
    all.binary_search_by(|z| z.code.cmp(shown.as_str()))
        .ok()
        .map(|i| &all[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_county_has_190_zip_codes_all_919_to_921() {
        assert_eq!(all().len(), 190);
        assert!(
            all()
                .iter()
                .all(|z| z.code.len() == 5 && ["919", "920", "921"].contains(&&z.code[..3]))
        );
        assert!(
            all().windows(2).all(|w| w[0].code < w[1].code),
            "sorted, no duplicates"
        );
    }

    #[test]
    fn finds_city_heights_and_refuses_los_angeles() {
        let z = find("92105").expect("92105 is in San Diego");
        assert_eq!(z.city, "San Diego");
        assert_eq!(z.neighborhood, Some("City Heights"));
        assert!((z.lat - 32.74).abs() < 0.1 && (z.lon + 117.09).abs() < 0.1);
        assert!(find("90012").is_none());
        assert!(find("9210").is_none());
    }

    #[test]
    fn every_neighbourhood_row_names_a_county_zip() {
        for line in NEIGHBORHOODS_CSV.lines().skip(1) {
            let (zip, name) = line.split_once(',').expect("zip,neighborhood");
            assert!(find(zip).is_some(), "{zip} ({name}) is not a county ZIP");
        }
    }
}
