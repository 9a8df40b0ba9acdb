//! `lab bench ops`: lab's fused custom ops (GELU, log-softmax, softmax, layer norm) against
//! candle's own versions of the same ops, forward + backward, in the same process on the same
//! inputs; prints the speed-up. The ops are where the training step's time goes besides the
//! matmuls (issue 7); `lab bench train` measures the whole step.

use anyhow::Result;

use crate::ml::bench::{OpTiming, ops as time_ops};

/// Runs the op benchmark (`reps` alternating repetitions per op) and prints its table or JSON.
pub fn ops(reps: usize, json: bool) -> Result<()> {
    let rows = time_ops(reps.max(1))?;
    if json {
        for r in &rows {
            serde_json::to_writer(std::io::stdout().lock(), r)?;
            println!();
        }
        return Ok(());
    }
    println!("{}", table(&rows, reps));
    Ok(())
}

fn table(rows: &[OpTiming], reps: usize) -> String {
    let mut s = format!(
        "lab bench ops: forward + backward, median of {reps} alternating repetitions, one thread\n\n"
    );
    let mut t = crate::table::Table::new(["OP", "SHAPE", "CANDLE µs", "LAB µs", "SPEED-UP"])
        .right(&[2, 3, 4]);
    for r in rows {
        let shape = r
            .shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("×");
        t.row([
            r.op.to_string(),
            shape,
            format!("{:.0}", r.reference_us),
            format!("{:.0}", r.lab_us),
            format!("{:.2}x", r.reference_us / r.lab_us),
        ]);
    }
    s += &t.render();
    s += "\n(speed-up = candle / lab; > 1: lab's op is faster)";
    s
}
