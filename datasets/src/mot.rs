//! The MOTChallenge text format: one box per line,
//! `frame, id, left, top, width, height, confidence, x, y, z` (frames from 1, id -1 for detections).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One line of a MOTChallenge `gt.txt`, `det.txt` or tracker result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotRecord {
    /// Frame number, from 1.
    pub frame: u32,
    /// The track id; -1 in detection files.
    pub id: i64,
    /// Left edge, pixels.
    pub left: f32,
    /// Top edge, pixels.
    pub top: f32,
    /// Box width, pixels.
    pub width: f32,
    /// Box height, pixels.
    pub height: f32,
    /// Detection confidence, or in ground truth 1 for boxes that count and 0 for ones to ignore.
    pub confidence: f32,
    /// The class in ground truth (MOT16/17 use 1 for pedestrians), -1 elsewhere.
    pub class: i32,
    /// The visibility ratio in ground truth, -1 elsewhere.
    pub visibility: f32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct MotParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses MOTChallenge text; blank lines are skipped, anything else malformed is an error naming its line.
pub fn parse(text: &str) -> Result<Vec<MotRecord>, MotParseError> {
    let mut records = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        if fields.len() < 7 {
            return Err(MotParseError {
                line,
                reason: format!("{} fields, at least 7 expected", fields.len()),
            });
        }
        let number = |i: usize, name: &str| -> Result<f64, MotParseError> {
            fields[i].parse::<f64>().map_err(|_| MotParseError {
                line,
                reason: format!("{name} `{}` is not a number", fields[i]),
            })
        };
        let frame = number(0, "frame")?;
        if frame < 0.0 || frame.fract() != 0.0 {
            return Err(MotParseError {
                line,
                reason: format!("frame `{}` is not a frame number", fields[0]),
            });
        }
        let optional = |i: usize, name: &str| -> Result<f64, MotParseError> {
            if i < fields.len() {
                number(i, name)
            } else {
                Ok(-1.0)
            }
        };
        records.push(MotRecord {
            frame: frame as u32,
            id: number(1, "id")? as i64,
            left: number(2, "left")? as f32,
            top: number(3, "top")? as f32,
            width: number(4, "width")? as f32,
            height: number(5, "height")? as f32,
            confidence: number(6, "confidence")? as f32,
            class: optional(7, "class")? as i32,
            visibility: optional(8, "visibility")? as f32,
        });
    }
    Ok(records)
}

/// Writes records in the 10-column form every MOT toolkit reads.
pub fn format(records: &[MotRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 48);
    for r in records {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},-1",
            r.frame, r.id, r.left, r.top, r.width, r.height, r.confidence, r.class, r.visibility
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let records = vec![
            MotRecord {
                frame: 1,
                id: 3,
                left: 10.5,
                top: 20.0,
                width: 30.25,
                height: 80.0,
                confidence: 1.0,
                class: 1,
                visibility: 0.75,
            },
            MotRecord {
                frame: 2,
                id: -1,
                left: 0.0,
                top: 0.0,
                width: 1.0,
                height: 2.0,
                confidence: 0.4,
                class: -1,
                visibility: -1.0,
            },
        ];
        assert_eq!(parse(&format(&records)).unwrap(), records);
    }

    #[test]
    fn short_mot15_lines_default_class_and_visibility() {
        let parsed = parse("1,-1,794.2,47.5,71.2,174.8,67.5,-1,-1,-1\n\n2,4,1,2,3,4,1").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].class, -1);
        assert_eq!(parsed[1].id, 4);
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(
            parse("1,1,0,0,1,1,1\n2,x,0,0,1,1,1").unwrap_err(),
            MotParseError {
                line: 2,
                reason: "id `x` is not a number".into()
            }
        );
        assert_eq!(
            parse("1,1,0").unwrap_err().reason,
            "3 fields, at least 7 expected"
        );
        assert!(
            parse("1.5,1,0,0,1,1,1")
                .unwrap_err()
                .reason
                .contains("frame")
        );
    }
}
