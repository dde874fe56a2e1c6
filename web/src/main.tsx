/**
 * web/: the Rebound console, the manager's screens (SPEC "The parts": the console of the
 * operation management system; Fig. 7, 9, 18). A single-page app on the manager's /v1 API,
 * built by Vite into dist/console/ and served by the manager at / (routes/console.ts).
 *
 *   main.tsx ─► app.tsx (sign-in or the shell: navigation, who, the page the path names)
 *                 ├─ routes.tsx      the route table, one line per page (and the pages to come)
 *                 ├─ pages/*.tsx     one page per file
 *                 ├─ api/client.ts   typed fetch client (types from src/manager/api-schema.ts)
 *                 ├─ api/access.ts   which role may call which route: what is drawn for whom
 *                 └─ components/     the table (windowed past 150 rows), forms, dialogs, badges
 *
 * This file is the entry: the stylesheet, then the shell into #app.
 */
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
