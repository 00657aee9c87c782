// The demo's timeline: a hand-drawn canvas of the last two minutes. Each lane is
// either a band (a value that holds until it changes: the fault, a breaker's state,
// the video's state) or ticks (instants: requests, failures, retries, probes,
// notices). A breaker's state change also draws a marker across every lane.
// Times are performance.now() milliseconds.

export const COLORS = {
  // breaker states
  closed: '#2fbf71',
  open: '#ef4f4f',
  halfOpen: '#f2b233',
  isolated: '#a070f0',
  // video states
  healthy: '#2fbf71',
  playing: '#2fbf71',
  stalled: '#f2b233',
  fallback: '#a070f0',
  resuming: '#46a6ff',
  unmanaged: '#59657a',
  // ticks
  ok: '#2fbf71',
  failed: '#ef4f4f',
  hung: '#f2b233',
  retry: '#ff8a3d',
  probe: '#46a6ff',
  notice: '#e8ecf4',
  // faults
  fault: '#ef4f4f',
  none: '#2a3242',
};

const LABEL_WIDTH = 58;
const AXIS_HEIGHT = 16;

export class Timeline {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ lanes: { id: string, label: string, kind: 'band' | 'ticks' }[], windowMs?: number }} options
   */
  constructor(canvas, { lanes, windowMs = 120_000 }) {
    this.canvas = canvas;
    this.windowMs = windowMs;
    this.lanes = lanes.map((lane) => ({ ...lane, items: [] }));
    this.markers = [];
  }

  lane(id) {
    const lane = this.lanes.find((l) => l.id === id);
    if (!lane) throw new Error(`no timeline lane '${id}'`);
    return lane;
  }

  /** A band's value from time `t` on (unchanged values are ignored). */
  set(id, t, value, label = value) {
    const items = this.lane(id).items;
    if (items.length && items[items.length - 1].value === value) return;
    items.push({ t, value, label });
  }

  /** An instant on a ticks lane; `tall` ticks stand out (failures). */
  tick(id, t, color, tall = false) {
    this.lane(id).items.push({ t, color, tall });
  }

  /** A vertical marker across every lane, e.g. a breaker opening. */
  marker(t, color, label) {
    this.markers.push({ t, color, label });
  }

  prune(now) {
    const start = now - this.windowMs;
    for (const lane of this.lanes) {
      const items = lane.items;
      // A band keeps the last value that began before the window: it is still showing.
      const keepFrom = lane.kind === 'band' ? items.findLastIndex((i) => i.t <= start) : -1;
      let drop = lane.kind === 'band' ? Math.max(0, keepFrom) : items.findIndex((i) => i.t >= start);
      if (drop < 0) drop = items.length;
      if (drop > 0) items.splice(0, drop);
    }
    this.markers = this.markers.filter((m) => m.t >= start);
  }

  draw(now) {
    this.prune(now);
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const plotWidth = width - LABEL_WIDTH - 4;
    const start = now - this.windowMs;
    const x = (t) => LABEL_WIDTH + ((t - start) / this.windowMs) * plotWidth;
    const laneHeight = (height - AXIS_HEIGHT) / this.lanes.length;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';

    this.lanes.forEach((lane, i) => {
      const top = i * laneHeight;
      const mid = top + laneHeight / 2;
      ctx.fillStyle = '#8b95a8';
      ctx.textAlign = 'right';
      ctx.fillText(lane.label, LABEL_WIDTH - 8, mid);
      ctx.fillStyle = i % 2 ? '#161c27' : '#1a2130';
      ctx.fillRect(LABEL_WIDTH, top + 1, plotWidth, laneHeight - 2);

      if (lane.kind === 'band') {
        lane.items.forEach((item, j) => {
          const from = Math.max(x(item.t), LABEL_WIDTH);
          const to = j + 1 < lane.items.length ? x(lane.items[j + 1].t) : x(now);
          if (to <= from) return;
          ctx.fillStyle = COLORS[item.value] ?? COLORS.fault;
          ctx.globalAlpha = item.value === 'none' ? 1 : 0.8;
          ctx.fillRect(from, top + 4, to - from, laneHeight - 8);
          ctx.globalAlpha = 1;
          if (to - from > 40 && item.label) {
            ctx.fillStyle = '#0d1118';
            ctx.textAlign = 'left';
            ctx.fillText(String(item.label), from + 4, mid, to - from - 8);
          }
        });
      } else {
        for (const item of lane.items) {
          const h = item.tall ? laneHeight - 6 : (laneHeight - 6) * 0.55;
          ctx.fillStyle = item.color;
          ctx.fillRect(Math.round(x(item.t)) - 1, mid - h / 2, 2, h);
        }
      }
    });

    for (const m of this.markers) {
      const mx = Math.round(x(m.t)) + 0.5;
      ctx.strokeStyle = m.color;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(mx, 0);
      ctx.lineTo(mx, height - AXIS_HEIGHT);
      ctx.stroke();
      ctx.setLineDash([]);
    }

    // Axis: seconds ago.
    ctx.fillStyle = '#8b95a8';
    ctx.textAlign = 'center';
    for (let s = 0; s <= this.windowMs / 1000; s += 30) {
      const tx = x(now - s * 1000);
      ctx.fillRect(tx, height - AXIS_HEIGHT, 1, 3);
      ctx.fillText(s === 0 ? 'now' : `-${s}s`, Math.min(Math.max(tx, LABEL_WIDTH + 12), width - 14), height - AXIS_HEIGHT / 2 + 2);
    }
  }
}
