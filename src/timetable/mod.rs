//! Timetables as text: reading the axes people write (times, day names) and writing the
//! entries out in the formats people use. Pure functions, no model and no I/O; extraction
//! (`ml::extract`) calls them on what the OCR read.

pub mod time;
