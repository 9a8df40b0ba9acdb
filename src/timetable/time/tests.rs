//! Tests of reading a time axis as people write it (`timetable::time`).

use super::*;

/// `(start, end)` of each slot, `?` for an unknown end, `-` for an unread label.
fn axis(labels: &[&str]) -> Vec<String> {
    parse_axis(labels)
        .unwrap()
        .into_iter()
        .map(|s| match s {
            Some(s) => format!("{}-{}", s.start, s.end.as_deref().unwrap_or("?")),
            None => "-".into(),
        })
        .collect()
}

fn one(label: &str) -> String {
    axis(&[label])[0].clone()
}

#[test]
fn separators_between_the_two_times() {
    for l in [
        "09:00-10:30",
        "09:00 - 10:30",
        "09:00–10:30",
        "09:00 – 10:30",
        "09:00—10:30",
        "09:00 to 10:30",
        "09:00 until 10:30",
        "09:00 10:30",
        "09:0010:30",
        "0900-1030",
        "0900 1030",
        "09001030",
        "9:00-10:30",
        "09.00-10.30",
        "9.00 – 10.30",
        "9h00 - 10h30",
        "09:00\n10:30",
    ] {
        assert_eq!(one(l), "09:00-10:30", "{l:?}");
    }
}

#[test]
fn twenty_four_hour_times() {
    assert_eq!(one("13:15-14:00"), "13:15-14:00");
    assert_eq!(one("00:30-01:15"), "00:30-01:15");
    assert_eq!(one("14h-15h30"), "14:00-15:30");
    assert_eq!(
        axis(&["08:00-09:00", "12:00-13:00", "13:00-14:00"]),
        ["08:00-09:00", "12:00-13:00", "13:00-14:00"]
    );
    // A 24-hour axis is read as written even where the order would suggest otherwise.
    assert_eq!(
        axis(&["14:00-15:00", "09:00-10:00"]),
        ["14:00-15:00", "09:00-10:00"]
    );
}

#[test]
fn twelve_hour_with_a_meridiem() {
    assert_eq!(one("07:20 AM - 08:00 AM"), "07:20-08:00");
    assert_eq!(one("07:20 AM\n08:00 AM"), "07:20-08:00");
    assert_eq!(one("11:30 AM - 12:30 PM"), "11:30-12:30");
    assert_eq!(one("1:00 PM - 2:00 PM"), "13:00-14:00");
    assert_eq!(one("12:30pm-1:15pm"), "12:30-13:15");
    assert_eq!(one("9 a.m. - 10 a.m."), "09:00-10:00");
    assert_eq!(one("9 a.m.–10.30 a.m."), "09:00-10:30");
    assert_eq!(one("3 p.m. to 4 p.m."), "15:00-16:00");
    assert_eq!(one("9am-10am"), "09:00-10:00");
    assert_eq!(one("9a-10a"), "09:00-10:00");
    assert_eq!(one("2p - 3:30p"), "14:00-15:30");
    assert_eq!(one("12 AM - 1 AM"), "00:00-01:00");
    // A meridiem written once covers the range.
    assert_eq!(one("9 - 11am"), "09:00-11:00");
    assert_eq!(one("1-2 PM"), "13:00-14:00");
    assert_eq!(one("11 - 1 PM"), "11:00-13:00");
}

#[test]
fn noon_midday_and_midnight() {
    assert_eq!(one("11 a.m. - noon"), "11:00-12:00");
    assert_eq!(one("11:00 - Noon"), "11:00-12:00");
    assert_eq!(one("noon - 1 p.m."), "12:00-13:00");
    assert_eq!(one("12 noon - 12:45 pm"), "12:00-12:45");
    assert_eq!(one("Midday–1pm"), "12:00-13:00");
    assert_eq!(one("midnight-1 a.m."), "00:00-01:00");
}

#[test]
fn twelve_hour_without_a_meridiem_follows_the_slot_order() {
    assert_eq!(
        axis(&["8-9", "9-10", "10-11", "11-12", "12-1", "1-2", "2-3"]),
        [
            "08:00-09:00",
            "09:00-10:00",
            "10:00-11:00",
            "11:00-12:00",
            "12:00-13:00",
            "13:00-14:00",
            "14:00-15:00"
        ]
    );
    assert_eq!(
        axis(&["8:30-9:20", "11:40-12:30", "12:30-1:20", "1:30-2:20"]),
        ["08:30-09:20", "11:40-12:30", "12:30-13:20", "13:30-14:20"]
    );
    // Alone, 1:00–2:00 is the afternoon.
    assert_eq!(one("1:00-2:00"), "13:00-14:00");
    assert_eq!(
        axis(&["1:00-2:00", "2:00-3:00"]),
        ["13:00-14:00", "14:00-15:00"]
    );
    // Evening classes.
    assert_eq!(
        axis(&["6:00-7:30", "7:45-9:15"]),
        ["18:00-19:30", "19:45-21:15"]
    );
    // Leading zeros with no hour past 12 still resolve by order.
    assert_eq!(
        axis(&["08:00-09:00", "12:00-01:00", "01:00-02:00"]),
        ["08:00-09:00", "12:00-13:00", "13:00-14:00"]
    );
    // Mixed: a written meridiem anchors the later bare times.
    assert_eq!(
        axis(&["10:00 AM-11:00 AM", "11:00-12:00", "1:00-2:00"]),
        ["10:00-11:00", "11:00-12:00", "13:00-14:00"]
    );
}

#[test]
fn start_times_only_the_last_end_is_unknown() {
    assert_eq!(
        axis(&["8:00", "9:00", "10:00", "11:00", "12:00", "1:00"]),
        [
            "08:00-09:00",
            "09:00-10:00",
            "10:00-11:00",
            "11:00-12:00",
            "12:00-13:00",
            "13:00-?"
        ]
    );
    assert_eq!(
        axis(&["8", "9", "10"]),
        ["08:00-09:00", "09:00-10:00", "10:00-?"]
    );
    assert_eq!(
        axis(&["9 AM", "10 AM", "11 AM", "Noon", "1 PM"])[3],
        "12:00-13:00"
    );
    // A row without a time (a break) is skipped over when ends are filled in.
    assert_eq!(
        axis(&["08:00", "Break", "10:00"]),
        ["08:00-10:00", "-", "10:00-?"]
    );
}

#[test]
fn periods_beside_the_times() {
    let p = parse_axis(&["Period 3 10:40–11:25"]).unwrap();
    assert_eq!(
        p[0],
        Some(Slot {
            start: "10:40".into(),
            end: Some("11:25".into()),
            period: Some(3)
        })
    );
    assert_eq!(one("Period 3\n10:40 - 11:25"), "10:40-11:25");
    assert_eq!(one("P3 10:40-11:25"), "10:40-11:25");
    assert_eq!(one("3. 10:40-11:25"), "10:40-11:25");
    assert_eq!(one("3) 10:40-11:25"), "10:40-11:25");
    assert_eq!(one("Lesson 2: 9:00 – 9:45"), "09:00-09:45");
    assert_eq!(one("1. Stunde 8.00-8.45"), "08:00-08:45");
    assert_eq!(one("#4 11:30-12:15"), "11:30-12:15");
    assert_eq!(one("3 10:40-11:25"), "10:40-11:25");
    assert_eq!(one("10:40-11:25 (Period 3)"), "10:40-11:25");
    assert_eq!(
        parse_axis(&["P3 10:40-11:25"]).unwrap()[0]
            .as_ref()
            .unwrap()
            .period,
        Some(3)
    );
    // A period with no time is no slot.
    assert_eq!(axis(&["Period 1", "9:00-10:00"]), ["-", "09:00-10:00"]);
}

#[test]
fn ocr_slips_and_noise_are_forgiven() {
    assert_eq!(one("O9:30-1O:45"), "09:30-10:45");
    assert_eq!(one("1l:00-12:OO"), "11:00-12:00");
    assert_eq!(one("  09 : 00 - 10:00 "), "09:00-10:00");
}

#[test]
fn nonsense_is_refused_not_invented() {
    assert!(matches!(
        parse_axis(&["Time", "Room", ""]),
        Err(AxisError::NoTimes(_))
    ));
    assert_eq!(one("25:00-26:00"), "-");
    assert_eq!(one("09:75-10:00"), "-");
    // An end before its start is no slot.
    assert_eq!(one("14:00-13:00"), "-");
    assert_eq!(one("13 PM - 14 PM"), "-");
}
