//! The syntax tree of `pipeline!` and its parser.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    AngleBracketedGenericArguments, Expr, Ident, LitStr, Token, Type, braced, parenthesized,
};

mod kw {
    syn::custom_keyword!(app);
    syn::custom_keyword!(stream);
    syn::custom_keyword!(table);
    syn::custom_keyword!(global);
    syn::custom_keyword!(from);
    syn::custom_keyword!(event_time);
    syn::custom_keyword!(branch);
}

/// A whole `pipeline! { ... }`.
pub(crate) struct Pipeline {
    /// The application name.
    pub(crate) app: LitStr,
    /// Declarations and flows, in written order.
    pub(crate) items: Vec<Item>,
}

/// One statement of a pipeline.
pub(crate) enum Item {
    /// `stream|table|global NAME: K => V from "topic" (KC, VC) ...;`
    Source(Box<Source>),
    /// `NAME -> step -> step => NAME;`
    Flow(Flow),
}

/// What a source declaration reads a topic as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// A record stream (`TopologyBuilder::stream`).
    Stream,
    /// A table kept in a store (`TopologyBuilder::table`).
    Table,
    /// A global table (`TopologyBuilder::global_table`).
    Global,
}

/// A declared input.
pub(crate) struct Source {
    pub(crate) kind: SourceKind,
    pub(crate) name: Ident,
    pub(crate) key: Type,
    pub(crate) value: Type,
    pub(crate) topic: LitStr,
    pub(crate) key_codec: Expr,
    pub(crate) value_codec: Expr,
    /// `event_time(f)`, streams only.
    pub(crate) event_time: Option<(Span, Expr)>,
    /// `as "store"`, tables only.
    pub(crate) store: Option<LitStr>,
}

/// A chain of operators from a named input.
pub(crate) struct Flow {
    pub(crate) head: Ident,
    pub(crate) steps: Vec<Step>,
    pub(crate) end: End,
}

/// One operator call: `name::<T>(args)`.
pub(crate) struct Step {
    pub(crate) method: Ident,
    pub(crate) generics: Option<AngleBracketedGenericArguments>,
    pub(crate) args: Vec<Expr>,
}

/// How a flow ends.
pub(crate) enum End {
    /// Nothing follows the last step.
    Nothing,
    /// `=> name`: the result is named.
    Bind(Ident),
    /// `-> branch { pred => name, ..., _ => name }`.
    Branch(Ident, Vec<Arm>),
}

/// One arm of a branch: records for which `pred` holds (all remaining
/// ones when `pred` is `None`, written `_`) go to `name`.
pub(crate) struct Arm {
    pub(crate) pred: Option<Expr>,
    pub(crate) name: Ident,
}

impl Parse for Pipeline {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(kw::app) {
            return Err(
                input.error("a pipeline starts with its application name: `app \"my-app\";`")
            );
        }
        input.parse::<kw::app>()?;
        let app = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse()?);
        }
        Ok(Pipeline { app, items })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let declares = (input.peek(kw::stream) || input.peek(kw::table) || input.peek(kw::global))
            && input.peek2(Ident);
        if declares {
            Ok(Item::Source(Box::new(input.parse()?)))
        } else {
            Ok(Item::Flow(input.parse()?))
        }
    }
}

impl Parse for Source {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let kind = if input.peek(kw::stream) {
            input.parse::<kw::stream>()?;
            SourceKind::Stream
        } else if input.peek(kw::table) {
            input.parse::<kw::table>()?;
            SourceKind::Table
        } else {
            input.parse::<kw::global>()?;
            SourceKind::Global
        };
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let key = input.parse()?;
        input.parse::<Token![=>]>()?;
        let value = input.parse()?;
        input.parse::<kw::from>()?;
        let topic = input.parse()?;
        let codecs;
        parenthesized!(codecs in input);
        let key_codec = codecs.parse()?;
        codecs.parse::<Token![,]>()?;
        let value_codec = codecs.parse()?;
        codecs.parse::<Option<Token![,]>>()?;
        if !codecs.is_empty() {
            return Err(codecs.error("expected two codecs: `(key codec, value codec)`"));
        }
        let mut event_time = None;
        if input.peek(kw::event_time) {
            let at = input.parse::<kw::event_time>()?.span;
            if kind != SourceKind::Stream {
                return Err(syn::Error::new(
                    at,
                    "`event_time` is declared on streams only; a table's records keep their log timestamps",
                ));
            }
            let f;
            parenthesized!(f in input);
            event_time = Some((at, f.parse()?));
        }
        let mut store = None;
        if input.peek(Token![as]) {
            let at = input.parse::<Token![as]>()?.span;
            if kind != SourceKind::Table {
                return Err(syn::Error::new(
                    at,
                    "only a table is kept in a store: `as \"store\"` does not apply here",
                ));
            }
            store = Some(input.parse()?);
        }
        if kind == SourceKind::Table && store.is_none() {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "table `{name}` needs a store name: `... (key codec, value codec) as \"{name}-store\";`"
                ),
            ));
        }
        input.parse::<Token![;]>()?;
        Ok(Source {
            kind,
            name,
            key,
            value,
            topic,
            key_codec,
            value_codec,
            event_time,
            store,
        })
    }
}

impl Parse for Flow {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let head: Ident = input.parse()?;
        let mut steps = Vec::new();
        let mut end = End::Nothing;
        while input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
            if input.peek(kw::branch) && input.peek2(syn::token::Brace) {
                let kw = input.parse::<kw::branch>()?;
                end = End::Branch(Ident::new("branch", kw.span), parse_arms(input)?);
                break;
            }
            steps.push(input.parse()?);
        }
        if matches!(end, End::Nothing) && input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            end = End::Bind(input.parse()?);
        }
        if !input.peek(Token![;]) {
            return Err(input
                .error("expected `-> operator(...)`, `=> name` or `;` (each flow ends with `;`)"));
        }
        input.parse::<Token![;]>()?;
        Ok(Flow { head, steps, end })
    }
}

impl Parse for Step {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let method: Ident = input.parse()?;
        let generics = if input.peek(Token![::]) {
            Some(AngleBracketedGenericArguments::parse_turbofish(input)?)
        } else {
            None
        };
        if !input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                method.span(),
                format!("expected the arguments of `{method}`: `{method}(...)`"),
            ));
        }
        let args;
        parenthesized!(args in input);
        let args = Punctuated::<Expr, Token![,]>::parse_terminated(&args)?;
        Ok(Step {
            method,
            generics,
            args: args.into_iter().collect(),
        })
    }
}

fn parse_arms(input: ParseStream<'_>) -> syn::Result<Vec<Arm>> {
    let body;
    braced!(body in input);
    let mut arms = Vec::new();
    while !body.is_empty() {
        let pred = if body.peek(Token![_]) {
            body.parse::<Token![_]>()?;
            None
        } else {
            Some(body.parse()?)
        };
        body.parse::<Token![=>]>()?;
        let name = body.parse()?;
        arms.push(Arm { pred, name });
        if body.is_empty() {
            break;
        }
        body.parse::<Token![,]>()?;
    }
    Ok(arms)
}
