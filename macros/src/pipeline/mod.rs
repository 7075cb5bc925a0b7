//! `pipeline!`: parse, check the dataflow, and expand to builder calls.

mod kinds;
mod parse;

use kinds::Kind;
use parse::{End, Flow, Item, Pipeline, Source, SourceKind, Step};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::collections::{HashMap, HashSet};
use syn::{Expr, Ident, LitStr};

/// Expands `pipeline! { ... }`, or reports every problem found as compile
/// errors on the user's tokens.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let checked = syn::parse2::<Pipeline>(input).and_then(|p| Checked::new(&p).map(|c| (p, c)));
    match checked.map(|(p, c)| c.expand(&p)) {
        Ok(tokens) => tokens,
        Err(e) => {
            // Several `compile_error!`s are statements: put them in a block
            // whose value has the expansion's type.
            let errors = e.to_compile_error();
            quote!({ #errors ::tributary::topology::invalid_pipeline() })
        }
    }
}

/// Collects errors so that one expansion reports all of them.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let e = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn finish(&mut self) -> syn::Result<()> {
        self.0.take().map_or(Ok(()), Err)
    }
}

/// A pipeline whose names, order and operator kinds are checked.
struct Checked {
    /// Flows (indices into the items) in an order where every name is
    /// defined before it is used.
    order: Vec<usize>,
    /// The kind of every named value.
    kinds: HashMap<String, Kind>,
}

/// The first argument of `step`, when it names another input.
fn named_input(step: &Step) -> Option<syn::Result<&Ident>> {
    let op = step.method.to_string();
    if !kinds::takes_named_input(&op) {
        return None;
    }
    let message = format!("the first argument of `{op}` names a stream or table of this pipeline");
    let arg = step.args.first();
    let name = match arg {
        Some(Expr::Path(p)) => p.path.get_ident(),
        _ => None,
    };
    Some(name.ok_or_else(|| match arg {
        Some(other) => syn::Error::new_spanned(other, message),
        None => syn::Error::new(step.method.span(), message),
    }))
}

/// A string literal argument at `index`, if that is what it is.
fn literal(step: &Step, index: usize) -> Option<&LitStr> {
    match step.args.get(index) {
        Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        })) => Some(s),
        _ => None,
    }
}

/// The names a flow defines.
fn defined_by(flow: &Flow) -> Vec<&Ident> {
    match &flow.end {
        End::Nothing => Vec::new(),
        End::Bind(name) => vec![name],
        End::Branch(_, arms) => arms.iter().map(|a| &a.name).collect(),
    }
}

/// The closest declared name to `name`, for "did you mean".
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (prev + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
    known
        .map(|k| (distance(name, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

/// Literal names that must be unique across the pipeline (topics read,
/// store names, repartition topics, join names).
struct Unique {
    /// What the names are, for messages.
    what: &'static str,
    /// What to do instead of reusing one.
    hint: &'static str,
    seen: HashSet<String>,
}

impl Unique {
    fn new(what: &'static str, hint: &'static str) -> Self {
        Unique {
            what,
            hint,
            seen: HashSet::new(),
        }
    }

    fn check(&mut self, lit: &LitStr, errors: &mut Errors) {
        if !self.seen.insert(lit.value()) {
            errors.push(
                lit.span(),
                format!(
                    "{} \"{}\" is used twice in this pipeline; {}",
                    self.what,
                    lit.value(),
                    self.hint
                ),
            );
        }
    }
}

const OWN_NAME: &str = "each needs a name of its own";

/// The literal names of a pipeline that must be unique.
struct Names {
    topics: Unique,
    stores: Unique,
    repartitions: Unique,
    joins: Unique,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            topics: Unique::new(
                "topic",
                "read a topic once and use its stream in several flows",
            ),
            stores: Unique::new("store name", OWN_NAME),
            repartitions: Unique::new("repartition name", OWN_NAME),
            joins: Unique::new("join name", OWN_NAME),
        }
    }
}

impl Names {
    /// Checks the names `step` gives (applied to `kind`).
    fn check(&mut self, step: &Step, op: &str, kind: &Kind, errors: &mut Errors) {
        let first = literal(step, 0);
        if let (true, Some(l)) = (kinds::names_store(op), first) {
            self.stores.check(l, errors);
        }
        if let (true, Some(l)) = (kinds::names_topic(op), first) {
            self.repartitions.check(l, errors);
        }
        if let (true, Some(l)) = (kinds::names_join(op, kind), literal(step, 1)) {
            self.joins.check(l, errors);
        }
        let writes = op == "to" && matches!(kind, Kind::Stream { .. } | Kind::Table);
        if let (true, Some(l)) = (writes, first)
            && self.topics.seen.contains(&l.value())
        {
            errors.push(
                l.span(),
                format!(
                    "topic \"{}\" is read by this pipeline; writing it back would loop",
                    l.value()
                ),
            );
        }
    }
}

/// Checks that the input named `arg` (of kind `got`) is what `op` applied
/// to `on` takes.
fn expect_argument(op: &str, on: &Kind, arg: &Ident, got: &Kind) -> Result<(), String> {
    let Some(expected) = kinds::named_argument(op, on) else {
        return Ok(());
    };
    if std::mem::discriminant(got) == std::mem::discriminant(&expected) {
        return Ok(());
    }
    let hint = match (&expected, got) {
        (Kind::Stream { .. }, Kind::Table) => {
            "; to join a table with a stream, use `join_table` or `left_join_table`"
        }
        (Kind::Stream { .. } | Kind::Table, Kind::Global) => {
            "; to join a global table, use `join_global` or `left_join_global`"
        }
        _ => "",
    };
    Err(format!(
        "`{op}` on {} takes {}, but `{arg}` is {}{hint}",
        on.describe(),
        expected.describe(),
        got.describe()
    ))
}

impl Checked {
    fn new(p: &Pipeline) -> syn::Result<Checked> {
        let mut errors = Errors::default();
        // Every name, where it is defined.
        let mut defined: HashMap<String, &Ident> = HashMap::new();
        for item in &p.items {
            let names = match item {
                Item::Source(s) => vec![&s.name],
                Item::Flow(f) => defined_by(f),
            };
            for name in names {
                if let Some(first) = defined.insert(name.to_string(), name) {
                    errors.push(
                        name.span(),
                        format!("`{name}` is defined twice in this pipeline"),
                    );
                    errors.push(first.span(), format!("`{name}` is first defined here"));
                }
            }
        }
        // Names each flow uses.
        let mut uses: Vec<Vec<&Ident>> = Vec::new();
        for item in &p.items {
            let Item::Flow(f) = item else {
                uses.push(Vec::new());
                continue;
            };
            let mut used = vec![&f.head];
            for step in &f.steps {
                match named_input(step) {
                    Some(Ok(name)) => used.push(name),
                    Some(Err(e)) => errors.push(e.span(), e),
                    None => {}
                }
            }
            for name in &used {
                if !defined.contains_key(&name.to_string()) {
                    let hint = closest(&name.to_string(), defined.keys())
                        .map(|k| format!("; did you mean `{k}`?"))
                        .unwrap_or_default();
                    errors.push(
                        name.span(),
                        format!(
                            "no stream or table named `{name}` is declared in this pipeline{hint}"
                        ),
                    );
                }
            }
            uses.push(used);
        }
        errors.finish()?;

        // Order flows so that each name is defined before it is used: the
        // pipeline may list its flows in any order.
        let mut ready: HashSet<String> = p
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Source(s) => Some(s.name.to_string()),
                Item::Flow(_) => None,
            })
            .collect();
        let mut pending: Vec<usize> = (0..p.items.len())
            .filter(|&i| matches!(p.items[i], Item::Flow(_)))
            .collect();
        let mut order = Vec::new();
        while !pending.is_empty() {
            let next = pending
                .iter()
                .position(|&i| uses[i].iter().all(|n| ready.contains(&n.to_string())));
            let Some(at) = next else {
                let i = pending[0];
                let head = uses[i][0];
                return Err(syn::Error::new(
                    head.span(),
                    format!("`{head}` is part of a cycle: these flows use each other's results"),
                ));
            };
            let i = pending.remove(at);
            if let Item::Flow(f) = &p.items[i] {
                ready.extend(defined_by(f).into_iter().map(Ident::to_string));
            }
            order.push(i);
        }

        let mut checked = Checked {
            order,
            kinds: HashMap::new(),
        };
        checked.check_kinds(p, &mut errors);
        errors.finish()?;
        Ok(checked)
    }

    /// Follows each flow's kinds step by step, and checks that literal
    /// names are unique.
    fn check_kinds(&mut self, p: &Pipeline, errors: &mut Errors) {
        let mut names = Names::default();
        for item in &p.items {
            if let Item::Source(s) = item {
                names.topics.check(&s.topic, errors);
                if let Some(store) = &s.store {
                    names.stores.check(store, errors);
                }
                let kind = match s.kind {
                    SourceKind::Stream => Kind::KEYED,
                    SourceKind::Table => Kind::Table,
                    SourceKind::Global => Kind::Global,
                };
                self.kinds.insert(s.name.to_string(), kind);
            }
        }
        let heads: HashSet<String> = p
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Flow(f) => Some(f.head.to_string()),
                Item::Source(_) => None,
            })
            .collect();
        for i in self.order.clone() {
            if let Item::Flow(flow) = &p.items[i]
                && let Some((kind, pending)) = self.follow(flow, &mut names, errors)
            {
                self.check_end(flow, kind, pending, &heads, errors);
            }
        }
    }

    /// The kind a flow's steps end with, and the step still waiting for an
    /// aggregation; `None` after an error.
    fn follow<'f>(
        &self,
        flow: &'f Flow,
        names: &mut Names,
        errors: &mut Errors,
    ) -> Option<(Kind, Option<&'f Ident>)> {
        let mut kind = self.kinds[&flow.head.to_string()].clone();
        // The step that made the value a grouped or windowed stream.
        let mut pending: Option<&Ident> = None;
        for step in &flow.steps {
            let op = step.method.to_string();
            let arg = named_input(step).and_then(Result::ok);
            let arg_kind = arg.map(|a| self.kinds[&a.to_string()].clone());
            if let (Some(a), Some(k)) = (arg, &arg_kind)
                && let Err(message) = expect_argument(&op, &kind, a, k)
            {
                errors.push(a.span(), message);
                return None;
            }
            names.check(step, &op, &kind, errors);
            match kinds::apply(&step.method, &kind, arg_kind.as_ref()) {
                Ok(next) => kind = next,
                Err(message) => {
                    errors.push(step.method.span(), message);
                    return None;
                }
            }
            pending = match kind {
                Kind::Grouped | Kind::Windowed if op != "emit" => Some(&step.method),
                Kind::Grouped | Kind::Windowed => pending,
                _ => None,
            };
        }
        Some((kind, pending))
    }

    /// Checks how a flow ends, and records the kinds of the names it defines.
    fn check_end(
        &mut self,
        flow: &Flow,
        kind: Kind,
        pending: Option<&Ident>,
        heads: &HashSet<String>,
        errors: &mut Errors,
    ) {
        let unaggregated = |what: &Kind| match what {
            Kind::Windowed => {
                "a window without an aggregation: follow it with `count`, `aggregate` or `reduce`"
            }
            _ => {
                "a grouping without an aggregation: follow it with `count`, `aggregate`, \
                 `reduce`, `top_k` or windows"
            }
        };
        match &flow.end {
            End::Nothing if flow.steps.is_empty() => errors.push(
                flow.head.span(),
                format!("`{}` alone does nothing: add `-> operator(...)`", flow.head),
            ),
            End::Nothing => {
                if let Some(step) = pending {
                    errors.push(step.span(), unaggregated(&kind));
                }
            }
            End::Bind(name) => {
                if flow.steps.is_empty() {
                    errors.push(
                        name.span(),
                        format!(
                            "`{} => {name}` only renames: add an operator between them",
                            flow.head
                        ),
                    );
                } else if kind == Kind::Written {
                    errors.push(
                        name.span(),
                        "`to` writes to a topic and gives nothing to name",
                    );
                } else if matches!(kind, Kind::Grouped | Kind::Windowed)
                    && !heads.contains(&name.to_string())
                {
                    errors.push(name.span(), unaggregated(&kind));
                }
                self.kinds.insert(name.to_string(), kind);
            }
            End::Branch(at, arms) => {
                if !matches!(kind, Kind::Stream { .. }) {
                    errors.push(
                        at.span(),
                        format!("`branch` splits a stream, not {}", kind.describe()),
                    );
                }
                if arms.is_empty() {
                    errors.push(at.span(), "`branch` needs at least one arm: `pred => name`");
                }
                for (n, arm) in arms.iter().enumerate() {
                    if arm.pred.is_none() && n + 1 < arms.len() {
                        errors.push(
                            arm.name.span(),
                            "the catch-all arm `_ => name` must come last",
                        );
                    }
                    self.kinds.insert(arm.name.to_string(), kind.clone());
                }
            }
        }
    }

    /// The builder calls: sources in written order, then the flows in
    /// dependency order, then `build()`.
    fn expand(&self, p: &Pipeline) -> TokenStream {
        let builder = format_ident!("builder", span = Span::mixed_site());
        let app = &p.app;
        let mut body = Vec::new();
        for item in &p.items {
            if let Item::Source(s) = item {
                body.push(source(&builder, s));
            }
        }
        for &i in &self.order {
            if let Item::Flow(f) = &p.items[i] {
                body.push(self.flow(f));
            }
        }
        quote! {
            {
                let mut #builder = ::tributary::Topology::builder(#app);
                #(#body)*
                #builder.build()
            }
        }
    }

    fn flow(&self, flow: &Flow) -> TokenStream {
        let head = &flow.head;
        let mut expr = quote!(#head);
        for step in &flow.steps {
            let method = &step.method;
            let generics = &step.generics;
            let mut args: Vec<TokenStream> = step
                .args
                .iter()
                .map(quote::ToTokens::to_token_stream)
                .collect();
            if let Some(Ok(name)) = named_input(step) {
                args[0] = quote_spanned!(name.span()=> &#name);
            }
            expr = quote_spanned!(method.span()=> #expr.#method #generics (#(#args),*));
        }
        match &flow.end {
            End::Nothing => quote!(let _ = #expr;),
            End::Bind(name) => {
                let text = name.to_string();
                match self.kinds.get(&text) {
                    Some(Kind::Stream { .. }) => quote!(let #name = #expr.named(#text);),
                    _ => quote!(let #name = #expr;),
                }
            }
            End::Branch(at, arms) => {
                let names: Vec<&Ident> = arms.iter().map(|a| &a.name).collect();
                let texts: Vec<String> = names.iter().map(ToString::to_string).collect();
                let ons = arms.iter().map(|a| match &a.pred {
                    Some(pred) => quote_spanned!(a.name.span()=> .on(#pred)),
                    None => quote_spanned!(a.name.span()=> .otherwise()),
                });
                quote_spanned! {at.span()=>
                    let [#(#names),*] = #expr.branch() #(#ons)* .build();
                    #(let #names = #names.named(#texts);)*
                }
            }
        }
    }
}

/// The builder call that declares a source.
fn source(builder: &Ident, s: &Source) -> TokenStream {
    let Source {
        name,
        key,
        value,
        topic,
        key_codec,
        value_codec,
        ..
    } = s;
    match s.kind {
        SourceKind::Stream => {
            let event_time = s
                .event_time
                .as_ref()
                .map(|(at, f)| quote_spanned!(*at=> .event_time(#f)));
            quote! {
                let #name = #builder.stream::<#key, #value>(#topic, #key_codec, #value_codec) #event_time;
            }
        }
        SourceKind::Table => {
            let store = &s.store;
            quote! {
                let #name = #builder.table::<#key, #value>(#topic, #key_codec, #value_codec, #store);
            }
        }
        SourceKind::Global => quote! {
            let #name = #builder.global_table::<#key, #value>(#topic, #key_codec, #value_codec);
        },
    }
}
