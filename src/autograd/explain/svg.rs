//! The graph as an SVG picture, laid out here (no Graphviz): one row per depth from the
//! loss (at the top) down to the leaves, nodes coloured by kind, edges labelled with the
//! shape flowing forward and, after backward, the gradient flowing back.

use super::dot::{colour, edges, node_lines};
use super::view::{Kind, View};

const CHAR_W: f64 = 7.2;
const LINE_H: f64 = 15.0;
const ROW_GAP: f64 = 70.0;
const COL_GAP: f64 = 28.0;
const MARGIN: f64 = 20.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A node's box: x, y, width, height.
type Box4 = (f64, f64, f64, f64);

/// Where each node is drawn, and the picture's width and height.
fn layout(view: &View) -> (Vec<Box4>, f64, f64) {
    let n = view.nodes.len();
    // Nodes come parents first, so one pass gives each the longest path from the root.
    let mut depth = vec![0usize; n];
    for (i, node) in view.nodes.iter().enumerate() {
        for x in &node.inputs {
            if let Some(t) = x.target {
                depth[t] = depth[t].max(depth[i] + 1);
            }
        }
    }
    let sizes: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let lines = node_lines(view, i);
            let w =
                lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64 * CHAR_W + 20.0;
            (w.max(60.0), lines.len() as f64 * LINE_H + 12.0)
        })
        .collect();
    let rows = depth.iter().max().map_or(0, |d| d + 1);
    let mut row_h = vec![0.0f64; rows];
    let mut row_w = vec![0.0f64; rows];
    for i in 0..n {
        row_h[depth[i]] = row_h[depth[i]].max(sizes[i].1);
        row_w[depth[i]] += sizes[i].0 + COL_GAP;
    }
    // At least wide enough for the legend.
    let width = (row_w.iter().cloned().fold(0.0, f64::max) - COL_GAP + 2.0 * MARGIN).max(500.0);
    let mut row_y = vec![MARGIN; rows];
    for r in 1..rows {
        row_y[r] = row_y[r - 1] + row_h[r - 1] + ROW_GAP;
    }
    let height = row_y.last().copied().unwrap_or(MARGIN)
        + row_h.last().copied().unwrap_or(0.0)
        + MARGIN
        + 30.0;
    let mut next_x: Vec<f64> = row_w
        .iter()
        .map(|w| (width - (w - COL_GAP)) / 2.0)
        .collect();
    let mut boxes = vec![(0.0, 0.0, 0.0, 0.0); n];
    for i in 0..n {
        let r = depth[i];
        let (w, h) = sizes[i];
        boxes[i] = (next_x[r], row_y[r] + (row_h[r] - h) / 2.0, w, h);
        next_x[r] += w + COL_GAP;
    }
    (boxes, width, height)
}

/// The SVG document.
pub(crate) fn render(view: &View) -> String {
    let (boxes, width, height) = layout(view);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"12\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (from, to, label) in edges(view) {
        let (fx, fy, fw, _) = boxes[from];
        let (tx, ty, tw, th) = boxes[to];
        let (x1, y1, x2, y2) = (fx + fw / 2.0, fy, tx + tw / 2.0, ty + th);
        s.push_str(&format!(
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#555\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>\n"
        ));
        if !label.is_empty() {
            // Nearer the input's end: edges into one node fan out there, so labels of
            // converging edges do not overlap.
            let (mx, my) = (x1 + (x2 - x1) * 0.2, y1 + (y2 - y1) * 0.2);
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#333\" text-anchor=\"middle\">{}</text>\n",
                mx,
                my + 3.0,
                esc(&label)
            ));
        }
    }
    for (i, node) in view.nodes.iter().enumerate() {
        let (x, y, w, h) = boxes[i];
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"6\" fill=\"{}\" stroke=\"#444\"/>\n",
            colour(node.kind)
        ));
        for (k, line) in node_lines(view, i).iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\"{weight}>{}</text>\n",
                x + w / 2.0,
                y + 6.0 + LINE_H * (k as f64 + 0.8),
                esc(line)
            ));
        }
    }
    let mut lx = MARGIN;
    let ly = height - 22.0;
    for (kind, name) in [
        (Kind::Loss, "loss"),
        (Kind::Op, "op"),
        (Kind::Parameter, "parameter"),
        (Kind::Leaf, "leaf (requires grad)"),
    ] {
        s.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"14\" height=\"12\" rx=\"3\" fill=\"{}\" stroke=\"#444\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{name}</text>\n",
            colour(kind),
            lx + 18.0,
            ly + 10.0
        ));
        lx += 30.0 + name.len() as f64 * 6.5;
    }
    s.push_str("</svg>\n");
    s
}
