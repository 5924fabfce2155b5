// Build the browser client into asr_service/webapp/ (committed, so that `pip install .` serves it
// without node): generate the protobuf-es code from protos/asr/v1/asr.proto, bundle src/app.js with
// esbuild, copy index.html and fvad.wasm. Run through scripts/build_web, which then writes BUILD.json
// (the hash of the sources that scripts/build_web --check compares, with no node needed).
//   node build.mjs            generate and bundle
//   node build.mjs --gen-only generate src/gen only
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const web = dirname(fileURLToPath(import.meta.url));
const repo = resolve(web, "..");
const out = join(repo, "asr_service", "webapp");
const python = process.env.PYTHON ?? join(repo, ".venv", "bin", "python");

rmSync(join(web, "src", "gen"), { recursive: true, force: true });
mkdirSync(join(web, "src", "gen"), { recursive: true });
execFileSync(python, ["-m", "grpc_tools.protoc", "-I", repo,
  `--plugin=protoc-gen-es=${join(web, "node_modules", ".bin", "protoc-gen-es")}`,
  `--es_out=${join(web, "src", "gen")}`, "--es_opt=target=js", join(repo, "protos", "asr", "v1", "asr.proto")],
{ stdio: "inherit" });
if (process.argv.includes("--gen-only")) process.exit(0);

mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(web, "src", "app.js")],
  bundle: true,
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  minify: true,
  legalComments: "eof",
  external: ["module"], // fvad.js's node-only branch; never taken in a browser
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
copyFileSync(join(web, "src", "index.html"), join(out, "index.html"));
copyFileSync(join(web, "node_modules", "@echogarden", "fvad-wasm", "fvad.wasm"), join(out, "fvad.wasm"));
console.log(`built ${out}`);
