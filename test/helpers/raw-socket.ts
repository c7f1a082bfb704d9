import { connect } from 'node:net'

/** Writes `text` to 127.0.0.1:port and collects everything sent back until close (or 3 s pass). */
export function raw (port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    const timer = setTimeout(() => { socket.destroy(); resolve(out) }, 3000)
    socket.on('data', (d: Buffer) => { out += d.toString('latin1') })
    socket.on('close', () => { clearTimeout(timer); resolve(out) })
    socket.on('error', () => {})
    socket.write(text)
  })
}
