// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Validate rendered Kubernetes objects offline, twice:
//  1. kubernetes-models (the API's OpenAPI schema compiled to ajv validators): required fields,
//     types, enums and formats. It accepts unknown fields, so:
//  2. TypeScript with kubernetes-types: each object becomes a typed object literal, and tsc's
//     excess-property check rejects any field the API does not have (what
//     `kubectl ... --local -o json` would silently drop) and any wrongly typed value.
// Usage: node k8s-validate.js NPM_DIR FILE.json...   (FILE: a JSON list, manifests.py render)
// Prints one line per problem; exit 1 if any.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");

const [npmDir, ...files] = process.argv.slice(2);
if (!npmDir || files.length === 0) {
	console.error("usage: node k8s-validate.js NPM_DIR FILE.json...");
	process.exit(2);
}
const mods = path.resolve(npmDir, "node_modules");

// apiVersion → [kubernetes-models dir, kubernetes-types module]
function paths(apiVersion) {
	const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
	const models = group ? `${group}/${version}` : version;
	const types = `${group ? group.replace(/\.k8s\.io$/, "") : "core"}/${version}`;
	return [models, types];
}

let problems = 0;
const tsLines = [];
files.forEach((file, fi) => {
	const objs = JSON.parse(fs.readFileSync(file, "utf8"));
	objs.forEach((o, i) => {
		const what = `${file}: ${o.kind}/${o.metadata && o.metadata.name}`;
		const [models, types] = paths(o.apiVersion);
		let Model;
		try {
			Model = require(path.join(mods, "kubernetes-models", models, o.kind))[o.kind];
		} catch (e) {
			console.log(`${what}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`);
			problems++;
			return;
		}
		try {
			new Model(o).validate();
		} catch (e) {
			console.log(`${what}: schema: ${e.message}`);
			problems++;
		}
		const id = `o${fi}_${i}`;
		tsLines.push(`// ${what}`);
		tsLines.push(`import type { ${o.kind} as T_${id} } from "kubernetes-types/${types}";`);
		tsLines.push(`export const ${id}: T_${id} = ${JSON.stringify(o, null, 1)};`);
	});
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drover-k8s-validate-"));
try {
	const ts = path.join(dir, "objects.ts");
	fs.writeFileSync(ts, tsLines.join("\n") + "\n");
	fs.symlinkSync(mods, path.join(dir, "node_modules"));
	fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
		compilerOptions: { noEmit: true, strict: true, types: [], moduleResolution: "node",
			target: "es2019", module: "commonjs" },
		files: ["objects.ts"],
	}));
	const tsc = path.join(mods, "typescript", "bin", "tsc");
	try {
		execFileSync(process.execPath, [tsc, "-p", dir],
			{ cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
	} catch (e) {
		// tsc: "objects.ts(LINE,COL): error TS2353: Object literal may only specify known
		// properties, and 'hots' does not exist in type 'HTTPGetAction'."
		const src = fs.readFileSync(ts, "utf8").split("\n");
		for (const line of (e.stdout || "").split("\n").filter((l) => l.includes("error TS"))) {
			const m = /\((\d+),\d+\): (error TS\d+: .*)/.exec(line);
			let obj = "";
			if (m) {
				for (let l = Number(m[1]) - 1; l >= 0; l--)
					if (src[l].startsWith("// ")) { obj = src[l].slice(3); break; }
			}
			console.log(`${obj || "?"}: fields: ${m ? m[2] : line}`);
			problems++;
		}
		if (problems === 0) {
			console.log(`tsc failed: ${e.stderr || e.message}`);
			problems++;
		}
	}
} finally {
	fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(problems ? 1 : 0);
