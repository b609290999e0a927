package dev.neomesh.models.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Line2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleFunction;
import javax.imageio.ImageIO;

/**
 * A small line plot written as PNG with java.awt, headless (no plotting dependency): panels side by
 * side, each with its series of (x, y) points joined by lines with a marker per point, a linear or
 * logarithmic y axis, x ticks at the points' x values labelled by a function (so a log2 width axis
 * reads 64, 128, ...), and one legend per panel. The panels share one y range, so they compare by eye.
 * Points whose y is not finite are left out (a diverged run), and the line is broken there.
 */
final class LinePlot {
  private LinePlot() {}

  /** One line: its label in the legend and its points. */
  record Series(String label, double[] x, double[] y) {}

  /** One panel: title, axis labels, whether y is logarithmic, how an x tick reads, and its lines. */
  record Panel(String title, String xLabel, String yLabel, boolean logY, DoubleFunction<String> xTick,
               List<Series> series) {}

  private static final Color[] COLORS = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
      new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
      new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207)};
  private static final int PANEL_W = 560;
  private static final int PANEL_H = 420;
  private static final int LEFT = 70;
  private static final int RIGHT = 20;
  private static final int TOP = 40;
  private static final int BOTTOM = 55;

  /** Draws {@code panels} left to right under {@code title} into {@code png} (its folder is created). */
  static void write(Path png, String title, List<Panel> panels) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int w = PANEL_W * panels.size();
    int h = PANEL_H + 30;
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
    centered(g, title, w / 2, 22);
    double[] range = {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
    for (Panel p : panels) {
      for (Series s : p.series()) {
        for (double y : s.y()) {
          if (ok(y, p.logY())) {
            range[0] = Math.min(range[0], y);
            range[1] = Math.max(range[1], y);
          }
        }
      }
    }
    for (int i = 0; i < panels.size(); i++) {
      draw(g, panels.get(i), i * PANEL_W, 30, range[0], range[1]);
    }
    g.dispose();
    if (png.getParent() != null) {
      Files.createDirectories(png.getParent());
    }
    ImageIO.write(image, "png", png.toFile());
  }

  private static void draw(Graphics2D g, Panel p, int ox, int oy, double yMin, double yMax) {
    double xMin = Double.POSITIVE_INFINITY;
    double xMax = Double.NEGATIVE_INFINITY;
    List<Double> xs = new ArrayList<>();
    for (Series s : p.series()) {
      for (int k = 0; k < s.x().length; k++) {
        if (!xs.contains(s.x()[k])) {
          xs.add(s.x()[k]);
        }
        xMin = Math.min(xMin, s.x()[k]);
        xMax = Math.max(xMax, s.x()[k]);
      }
    }
    if (!(yMin <= yMax)) {
      yMin = 1;
      yMax = 2;
    }
    double lo = p.logY() ? Math.log10(yMin) : yMin;
    double hi = p.logY() ? Math.log10(yMax) : yMax;
    double pad = hi > lo ? 0.06 * (hi - lo) : 0.5;
    lo -= pad;
    hi += pad;
    double xPad = xMax > xMin ? 0.04 * (xMax - xMin) : 0.5;
    double x0 = xMin - xPad;
    double x1 = xMax + xPad;
    int left = ox + LEFT;
    int right = ox + PANEL_W - RIGHT;
    int top = oy + TOP;
    int bottom = oy + PANEL_H - BOTTOM;
    Axis ax = new Axis(x0, x1, left, right);
    Axis ay = new Axis(lo, hi, bottom, top);

    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.setColor(Color.BLACK);
    centered(g, p.title(), (left + right) / 2, oy + 24);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    // y ticks and grid
    for (double t : yTicks(lo, hi, p.logY())) {
      int py = ay.px(p.logY() ? Math.log10(t) : t);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(left, py, right, py);
      g.setColor(Color.BLACK);
      g.drawLine(left - 4, py, left, py);
      String label = format(t);
      g.drawString(label, left - 7 - g.getFontMetrics().stringWidth(label), py + 4);
    }
    for (double t : xs) {
      int px = ax.px(t);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(px, top, px, bottom);
      g.setColor(Color.BLACK);
      g.drawLine(px, bottom, px, bottom + 4);
      centered(g, p.xTick().apply(t), px, bottom + 17);
    }
    g.setColor(Color.BLACK);
    g.drawRect(left, top, right - left, bottom - top);
    centered(g, p.xLabel(), (left + right) / 2, bottom + 38);
    Graphics2D r = (Graphics2D) g.create();
    r.rotate(-Math.PI / 2);
    centered(r, p.yLabel(), -(top + bottom) / 2, ox + 16);
    r.dispose();

    g.setStroke(new BasicStroke(2f));
    int legendW = 0;
    for (Series s : p.series()) {
      legendW = Math.max(legendW, g.getFontMetrics().stringWidth(s.label()));
    }
    int legendX = right - legendW - 40;
    g.setColor(new Color(255, 255, 255, 225));
    g.fillRect(legendX - 4, top + 3, legendW + 42, 16 * p.series().size() + 6);
    int legendY = top + 16;
    for (int i = 0; i < p.series().size(); i++) {
      Series s = p.series().get(i);
      g.setColor(COLORS[i % COLORS.length]);
      double px = Double.NaN;
      double py = Double.NaN;
      for (int k = 0; k < s.x().length; k++) {
        double y = s.y()[k];
        if (!ok(y, p.logY())) {
          px = Double.NaN;
          continue;
        }
        double cx = ax.px(s.x()[k]);
        double cy = ay.px(p.logY() ? Math.log10(y) : y);
        if (!Double.isNaN(px)) {
          g.draw(new Line2D.Double(px, py, cx, cy));
        }
        g.fillOval((int) cx - 3, (int) cy - 3, 7, 7);
        px = cx;
        py = cy;
      }
      g.drawLine(legendX, legendY - 4, legendX + 20, legendY - 4);
      g.fillOval(legendX + 7, legendY - 7, 7, 7);
      g.setColor(Color.BLACK);
      g.drawString(s.label(), legendX + 25, legendY);
      legendY += 16;
    }
    g.setStroke(new BasicStroke(1f));
  }

  private static boolean ok(double y, boolean logY) {
    return Double.isFinite(y) && (!logY || y > 0);
  }

  /** A linear map from data [d0, d1] to pixels [p0, p1]. */
  private record Axis(double d0, double d1, int p0, int p1) {
    int px(double d) {
      return (int) Math.round(p0 + (d - d0) / (d1 - d0) * (p1 - p0));
    }
  }

  /** Ticks at 1, 2, 5 times powers of ten: in the log range [lo, hi] (log10) or the linear one. */
  private static List<Double> yTicks(double lo, double hi, boolean log) {
    List<Double> out = new ArrayList<>();
    if (log) {
      for (int e = (int) Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (double m : new double[] {1, 2, 5}) {
          double t = m * Math.pow(10, e);
          if (Math.log10(t) >= lo && Math.log10(t) <= hi) {
            out.add(t);
          }
        }
      }
      return out;
    }
    double raw = (hi - lo) / 6;
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    for (double t = Math.ceil(lo / step) * step; t <= hi; t += step) {
      out.add(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return out;
  }

  private static String format(double t) {
    if (t != 0 && (Math.abs(t) < 1e-2 || Math.abs(t) >= 1e4)) {
      return String.format(java.util.Locale.ROOT, "%.0e", t);
    }
    String s = String.format(java.util.Locale.ROOT, "%.3f", t);
    return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
  }

  private static void centered(Graphics2D g, String s, int x, int y) {
    FontMetrics fm = g.getFontMetrics();
    g.drawString(s, x - fm.stringWidth(s) / 2, y);
  }
}
