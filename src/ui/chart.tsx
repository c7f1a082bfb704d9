import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { currentLang } from './i18n.js'

export interface SeriesSpec {
  label: string
  /** A CSS custom property of the theme (read when drawn, so light and dark both fit). */
  colorVar: string
  values: number[]
}

interface Props {
  /** Bucket starts, epoch seconds. */
  x: number[]
  series: SeriesSpec[]
  /** What the chart shows, for screen readers (the data table beside it has the numbers). */
  label: string
  height?: number
  /** A click on a bucket: its index. */
  onPick?: (index: number) => void
}

const JA_MONTHS = [...Array(12).keys()].map((m) => `${m + 1}月`)
const JA_DAYS = ['日曜日', '月曜日', '火曜日', '水曜日', '木曜日', '金曜日', '土曜日']
const JA_DATES = { MMMM: JA_MONTHS, MMM: JA_MONTHS, WWWW: JA_DAYS, WWW: JA_DAYS.map((d) => d[0]!) }

function cssVar (name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'
}

/** A uPlot time series: small, fast, canvas, no dependency. Redrawn on resize and theme change. */
export function TimeChart ({ x, series, label, height = 220, onPick }: Props) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = box.current
    if (el === null) return
    let plot: uPlot | null = null
    const draw = (): void => {
      plot?.destroy()
      const text = cssVar('--muted')
      const grid = cssVar('--border')
      const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }
      const opts: uPlot.Options = {
        width: Math.max(el.clientWidth, 300),
        height,
        tzDate: (ts) => new Date(ts * 1000),
        fmtDate: (tpl) => uPlot.fmtDate(tpl, currentLang() === 'ja' ? JA_DATES : undefined),
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [axis, { ...axis, size: 48 }],
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        series: [
          {},
          ...series.map((s) => {
            const color = cssVar(s.colorVar)
            return { label: s.label, stroke: color, width: 2, fill: `${color}22`, points: { show: false } }
          })
        ]
      }
      plot = new uPlot(opts, [x, ...series.map((s) => s.values)], el)
      if (onPick !== undefined) {
        plot.over.addEventListener('click', () => {
          const idx = plot?.cursor.idx
          if (idx !== null && idx !== undefined) onPick(idx)
        })
      }
    }
    draw()
    const resize = new ResizeObserver(() => {
      if (plot !== null && Math.abs(plot.width - el.clientWidth) > 4) plot.setSize({ width: Math.max(el.clientWidth, 300), height })
    })
    resize.observe(el)
    // The theme's colours are read when drawn: redraw when they change.
    const media = matchMedia('(prefers-color-scheme: dark)')
    const themed = new MutationObserver(draw)
    themed.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] })
    media.addEventListener('change', draw)
    return () => {
      resize.disconnect()
      themed.disconnect()
      media.removeEventListener('change', draw)
      plot?.destroy()
    }
  }, [x, series])
  return (
    <figure class="chart-figure">
      <div class="chart" ref={box} data-testid="timechart" data-points={x.length} />
      <figcaption class="sr-only">{label}</figcaption>
    </figure>
  )
}
