/**
 * The demo's stack with the demo's scripted traffic recorded (healthy requests and failures on
 * both hops), for the browser view's tests in each browser: started, settled, and its exchanges
 * read back once.
 */
import type { Exchange } from '../../src/capture/exchange.js'
import { settle, startDemoStack, type DemoStack } from '../../src/demo/stack.js'
import { runTraffic } from '../../src/demo/traffic.js'

export interface RecordedDemo {
  stack: DemoStack
  /** Every exchange the traffic left, newest first. */
  all: Exchange[]
  /** A GET of the admin API, parsed; throws on an error status. */
  api: <T>(path: string) => Promise<T>
}

export async function recordedDemo (): Promise<RecordedDemo> {
  const stack = await startDemoStack({ admin: '127.0.0.1:0', listen: '127.0.0.1:0', modelListen: '127.0.0.1:0', db: null })
  await runTraffic(stack, () => undefined)
  await settle(stack)
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(stack.adminUrl + path)
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return await res.json() as T
  }
  const all = (await api<{ items: Exchange[] }>('/api/exchanges?limit=1000')).items
  return { stack, all, api }
}
