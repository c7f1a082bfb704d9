import { cli } from './cli.js'
import { diagnosis } from './diagnosis.js'
import { doctor } from './doctor.js'
import { flags } from './flags.js'
import { query } from './query.js'
import { ui } from './ui.js'

/** The en catalogs, by i18next namespace. */
export const en = { diagnosis, flags, cli, doctor, query, ui }
