//! Synthetic air-quality data for the demo region, generated in process (no Python, no
//! files): readings from city sensors (no subject) and citizen sensors (a pseudonymous
//! subject), a sensor roll-out so the first day has few readings (small groups to
//! suppress), and consent records for the citizens.

use regio_query::schema::{Field, FieldType, Schema, Value};
use regio_store::consent;

/// The demo's municipalities: the five NIS codes of `../shared/bench/gen_airquality.py`.
pub const MUNICIPALITIES: [(&str, &str); 5] = [
    ("44021", "Gent"),
    ("11002", "Antwerpen"),
    ("31005", "Brugge"),
    ("24062", "Leuven"),
    ("71016", "Genk"),
];

/// Sensors per municipality with enough citizens for a group to be released: two in five
/// sensors are citizens', and of 20 citizens 11 consent, so a day of one municipality counts
/// at least the charter's minimum group size (10) of distinct citizens, one withdrawal
/// included. The demo's default and the fixtures'.
pub const SENSORS: usize = 50;

/// First day of the data (2024-01-01T00:00:00Z), microseconds.
pub const START_MICROS: i64 = 1_704_067_200_000_000;
const DAY_MICROS: i64 = 86_400_000_000;

/// Schema of the `readings` dataset.
pub fn readings_schema() -> Schema {
    let f = |name: &str, ty, nullable| Field::new(name, ty, nullable);
    // Clamping bounds and percentile bins of the pollutants (µg/m³), and the region's
    // municipalities as the public domain of `municipality`.
    let bounded = |name: &str, hi: f64| Field {
        bounds: Some([0.0, hi]),
        bins: Some(40),
        ..f(name, FieldType::Float, true)
    };
    let mut municipality = f("municipality", FieldType::String, false);
    municipality.categories = Some(
        MUNICIPALITIES
            .iter()
            .map(|(nis, _)| (*nis).to_owned())
            .collect(),
    );
    Schema {
        dataset: "readings".into(),
        fields: vec![
            f("id", FieldType::String, false),
            municipality,
            f("sensor_id", FieldType::String, false),
            f("subject", FieldType::String, true),
            f("observed_at", FieldType::Timestamp, false),
            bounded("no2", 200.0),
            bounded("pm25", 150.0),
        ],
        subject: Some("subject".into()),
        time: Some("observed_at".into()),
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The subject pseudonym of citizen sensor `i` of municipality `nis`.
pub fn subject(nis: &str, i: usize) -> String {
    format!("subj-{nis}-{i:03}")
}

/// One municipality's data: rows (schema order) and consent entries.
pub struct Municipality {
    /// Rows of `readings`.
    pub rows: Vec<Vec<Value>>,
    /// Consent entries (id `subject/purpose`, channel `import`).
    pub consent: Vec<consent::Entry>,
}

/// Generates `days` days of readings for municipality `index` of [`MUNICIPALITIES`].
pub fn municipality(index: usize, days: usize, sensors: usize) -> Municipality {
    let (nis, _) = MUNICIPALITIES[index % MUNICIPALITIES.len()];
    let mut rng = Rng(0x5EED_0000 + index as u64);
    let citizen = sensors * 2 / 5;
    let mut rows = Vec::new();
    for day in 0..days {
        // Roll-out: on day 0 only a handful of sensors report, from day 2 all of them.
        let active = match day {
            0 => 3,
            1 => sensors / 2,
            _ => sensors,
        };
        for s in 0..active {
            for hour in (0..24).step_by(3) {
                let at = START_MICROS
                    + day as i64 * DAY_MICROS
                    + hour as i64 * 3_600_000_000
                    + (rng.next() % 3_600_000_000) as i64;
                let traffic = if (7..10).contains(&hour) || (16..19).contains(&hour) {
                    14.0
                } else {
                    0.0
                };
                let no2 = ((18.0 + 3.0 * index as f64 + traffic + rng.unit() * 12.0) * 100.0)
                    .round()
                    / 100.0;
                let pm25 = ((8.0 + rng.unit() * 9.0) * 100.0).round() / 100.0;
                let subject = (s < citizen).then(|| subject(nis, s));
                rows.push(vec![
                    Value::Str(format!("{nis}-{}", rows.len())),
                    Value::Str(nis.into()),
                    Value::Str(format!("{nis}-s{s:03}")),
                    subject.map(Value::Str).unwrap_or(Value::Null),
                    Value::Ts(at),
                    Value::Float(no2),
                    Value::Float(pm25),
                ]);
            }
        }
    }
    // Two citizens in three consent to research; one in five has withdrawn since.
    let consent = (0..citizen)
        .filter(|i| i % 3 != 2)
        .map(|i| consent::Entry {
            id: format!("{}/ResearchAndDevelopment", subject(nis, i)),
            subject: subject(nis, i),
            datasets: Vec::new(),
            purposes: vec!["ResearchAndDevelopment".into()],
            given: true,
            given_at: START_MICROS - 30 * DAY_MICROS,
            withdrawn_at: (i % 5 == 4).then_some(START_MICROS - DAY_MICROS),
            channel: "import".into(),
            raw: None,
        })
        .collect();
    Municipality { rows, consent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_shaped_for_the_demo() {
        let a = municipality(0, 4, 20);
        let b = municipality(0, 4, 20);
        assert_eq!(a.rows, b.rows);
        let day0 = a
            .rows
            .iter()
            .filter(|r| matches!(r[4], Value::Ts(t) if t < START_MICROS + DAY_MICROS))
            .count();
        assert_eq!(day0, 3 * 8, "three sensors, eight readings each on day 0");
        assert_eq!(a.rows.len(), 24 + 10 * 8 + 20 * 8 * 2);
        assert_eq!(a.consent.len(), 6);
        assert!(readings_schema().validate().is_ok());
    }
}
