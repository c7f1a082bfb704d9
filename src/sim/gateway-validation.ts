/**
 * The gateway's 422: FastAPI's field-error list in 2024 (its default RequestValidationError
 * handler), `{"detail":"Validation error"}` in 2025 (ai_gateway/api/server.py
 * validation_exception_handler, when request data may not be logged).
 */
import type { RouteContext } from './gateway-generate.js'
import { sendJson } from './sim-server.js'

export interface FieldError {
  loc: Array<string | number>
  msg: string
  type: string
  input?: unknown
}

export function validationError (rc: RouteContext, errors: FieldError[]): void {
  if (rc.env.version === '2025') return sendJson(rc.sim.res, 422, { detail: 'Validation error' })
  // pydantic 2 key order: type, loc, msg, input, ctx.
  sendJson(rc.sim.res, 422, { detail: errors.map((e) => ({ type: e.type, loc: e.loc, msg: e.msg, input: e.input ?? null, ...(e.type === 'value_error' ? { ctx: { error: {} } } : {}) })) })
}
