//! Charts as inline SVG: readable axes, a legend, a native tooltip (`<title>`) on every bar,
//! and the numbers in `data-*` attributes so tests read the DOM, not pixels.

use leptos::prelude::*;

/// One stacked series of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// CSS class giving its colour: `s1` to `s4`.
    pub class: &'static str,
    pub values: Vec<i64>,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 52.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;

/// The smallest of 1, 2, 5 × 10ⁿ at or above `max`, so ticks are round numbers.
pub fn nice_max(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step: i64 = 1;
    loop {
        for m in [1i64, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= max {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn short(n: i64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 10_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Stacked bars over `labels` (one bar per label).
#[component]
pub fn BarChart(
    #[prop(into)] title: String,
    labels: Vec<String>,
    series: Vec<Series>,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let n = labels.len().max(1);
    let totals: Vec<i64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().copied().max().unwrap_or(0));
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT) / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let y = move |v: i64| TOP + plot_h - plot_h * (v as f64 / top as f64);
    // At most about 12 axis labels.
    let every = n.div_ceil(12).max(1);
    let mut rects = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let mut base = 0i64;
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        for s in &series {
            let v = s.values.get(i).copied().unwrap_or(0);
            if v > 0 {
                let (y0, y1) = (y(base), y(base.saturating_add(v)));
                rects.push(view! {
                    <rect class=s.class x=format!("{x:.1}") y=format!("{y1:.1}") width=format!("{bar:.1}")
                        height=format!("{:.1}", (y0 - y1).max(0.5))
                        data-series=s.name.clone() data-label=label.clone() data-value=v.to_string()>
                        <title>{format!("{label} · {}: {v}", s.name)}</title>
                    </rect>
                });
            }
            base = base.saturating_add(v);
        }
    }
    let x_labels: Vec<_> = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, label)| {
            let x = LEFT + slot * i as f64 + slot / 2.0;
            view! { <text class="axis" x=format!("{x:.1}") y=format!("{:.1}", H - 8.0) text-anchor="middle">{label.clone()}</text> }
        })
        .collect();
    let ticks: Vec<_> = [0, top / 2, top]
        .into_iter()
        .map(|t| {
            let ty = y(t);
            view! {
                <line class="grid" x1=LEFT.to_string() x2=W.to_string() y1=format!("{ty:.1}") y2=format!("{ty:.1}") />
                <text class="axis" x=format!("{:.1}", LEFT - 6.0) y=format!("{:.1}", ty + 4.0) text-anchor="end">{short(t)}</text>
            }
        })
        .collect();
    let legend: Vec<_> = series
        .iter()
        .map(|s| {
            let sum: i64 = s.values.iter().sum();
            view! { <li><span class=format!("swatch {}", s.class)></span>{s.name.clone()} " " <b>{crate::ui::thousands(sum)}</b></li> }
        })
        .collect();
    let total = totals.iter().sum::<i64>().to_string();
    view! {
        <figure class="chart" data-testid=testid data-total=total>
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title>
                {ticks}
                {rects}
                {x_labels}
            </svg>
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

/// A small line of `values`, for a table cell.
#[component]
pub fn Sparkline(values: Vec<i64>, #[prop(into)] label: String) -> impl IntoView {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().saturating_sub(1).max(1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                100.0 * i as f64 / n,
                20.0 - 18.0 * (*v as f64) / max
            )
        })
        .collect();
    view! {
        <svg class="sparkline" viewBox="0 0 100 22" role="img" aria-label=label.clone() preserveAspectRatio="none">
            <title>{label.clone()}</title>
            <polyline points=points.join(" ") />
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::nice_max;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(420), 500);
        assert_eq!(nice_max(2000), 2000);
    }
}
