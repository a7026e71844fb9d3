use super::*;

fn key(nis: &str, day: &str) -> (String, String) {
    (nis.to_owned(), day.to_owned())
}

#[test]
fn a_group_needs_k_rows_and_k_distinct_citizens() {
    let g = |rows, public_rows, subjects| Group {
        rows,
        public_rows,
        subjects,
        no2: 0.0,
    };
    assert!(g(10, 10, 0).released(Mode::Exact, 10));
    assert!(!g(9, 9, 0).released(Mode::Exact, 10));
    assert!(
        !g(200, 100, 9).released(Mode::Exact, 10),
        "rows alone do not do"
    );
    assert!(g(200, 100, 10).released(Mode::Exact, 10));
    assert!(g(20, 0, 10).released(Mode::Exact, 10));
    assert!(g(200, 100, 3).released(Mode::Private, 10), "a public key");
    assert!(!g(2000, 0, 100).released(Mode::Private, 10));
}

#[test]
fn the_default_data_releases_every_day_but_the_first() {
    let now = Utc::now();
    let (days, sensors) = (3, 50);
    for mode in [Mode::Exact, Mode::Private] {
        let before = Daily::in_mode(mode, 5, (days, sensors), &[], 10, now);
        assert_eq!(before.suppressed, vec![1; 5], "{mode:?}");
        assert_eq!(before.kept[&key("44021", "2024-01-02")], 40 + 11 * 8);
        assert_eq!(before.kept[&key("44021", "2024-01-03")], 240 + 11 * 8);
        let first = &before.hidden[&key("44021", "2024-01-01")];
        assert_eq!((first.rows, first.public_rows, first.subjects), (16, 0, 2));
        let gone = data::subject("44021", 0);
        let after = Daily::in_mode(
            mode,
            5,
            (days, sensors),
            std::slice::from_ref(&gone),
            10,
            now,
        );
        assert_eq!(after.suppressed, vec![1; 5], "{mode:?}");
        assert_eq!(subject_rows(0, days, sensors, &gone), 24);
        assert_eq!(before.total() - after.total(), 16);
    }
    assert_eq!(subjects_counted(0, days, sensors, &[], now), 11);
    let gone = [data::subject("44021", 0)];
    assert_eq!(subjects_counted(0, days, sensors, &gone, now), 10);
}

#[test]
fn twenty_sensors_have_too_few_citizens_for_an_exact_group() {
    let now = Utc::now();
    let exact = Daily::in_mode(Mode::Exact, 5, (3, 20), &[], 10, now);
    assert!(exact.kept.is_empty(), "{:?}", exact.kept);
    let private = Daily::in_mode(Mode::Private, 5, (3, 20), &[], 10, now);
    assert_eq!(private.kept.len(), 10, "days 2 and 3 have city sensors");
}
