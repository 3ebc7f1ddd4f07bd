//! The table every run prints: `what | figure | baseline | ratio | goal | ok?`.

/// A goal a figure is held to.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// Nothing to meet; the row is context.
    None,
    /// The ratio (figure / baseline) at least this.
    RatioAtLeast(f64),
    /// The ratio at most this.
    RatioAtMost(f64),
    /// The figure itself at most this.
    FigureAtMost(f64),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub figure: f64,
    pub unit: &'static str,
    pub baseline: Option<f64>,
    pub goal: Goal,
}

impl Row {
    pub fn new(what: impl Into<String>, figure: f64, unit: &'static str) -> Self {
        Self {
            what: what.into(),
            figure,
            unit,
            baseline: None,
            goal: Goal::None,
        }
    }

    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }

    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = goal;
        self
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline.filter(|b| *b != 0.0).map(|b| self.figure / b)
    }

    /// Whether the goal is met; `None` when there is no goal.
    pub fn ok(&self) -> Option<bool> {
        match self.goal {
            Goal::None => None,
            Goal::RatioAtLeast(min) => Some(self.ratio().is_some_and(|r| r >= min)),
            Goal::RatioAtMost(max) => Some(self.ratio().is_some_and(|r| r <= max)),
            Goal::FigureAtMost(max) => Some(self.figure <= max),
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::None => String::new(),
            Goal::RatioAtLeast(min) if min < 2.0 => format!("ratio ≥ {:.0} %", min * 100.0),
            Goal::RatioAtLeast(min) => format!("ratio ≥ {min}"),
            Goal::RatioAtMost(max) if max < 2.0 => format!("ratio ≤ {:.0} %", max * 100.0),
            Goal::RatioAtMost(max) => format!("ratio ≤ {max}×"),
            Goal::FigureAtMost(max) => format!("≤ {} {}", number(max), self.unit),
        }
    }
}

fn number(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn ratio_text(ratio: f64, goal: Goal) -> String {
    match goal {
        Goal::RatioAtLeast(min) | Goal::RatioAtMost(min) if min < 2.0 => {
            format!("{:.0} %", ratio * 100.0)
        }
        _ => format!("{}×", number(ratio)),
    }
}

/// Prints the rows as a Markdown table (readable in a terminal, pasteable in
/// BENCHMARKS.md).
pub fn print(title: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!("| what | figure | baseline | ratio | goal | ok? |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    for row in rows {
        let figure = format!("{} {}", number(row.figure), row.unit);
        let baseline = row
            .baseline
            .map_or_else(String::new, |b| format!("{} {}", number(b), row.unit));
        let ratio = row
            .ratio()
            .map_or_else(String::new, |r| ratio_text(r, row.goal));
        let ok = match row.ok() {
            None => "",
            Some(true) => "yes",
            Some(false) => "NO",
        };
        println!(
            "| {} | {figure} | {baseline} | {ratio} | {} | {ok} |",
            row.what,
            row.goal_text()
        );
    }
}
