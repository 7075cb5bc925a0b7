//! `#[derive(Event)]`: key and event-time extractors from marked fields.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Member};

/// One field marked `#[event(...)]`.
struct Marked<'a> {
    member: Member,
    ty: &'a syn::Type,
    attr: proc_macro2::Span,
}

/// Expands the derive, or reports what is wrong on the user's tokens.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input).and_then(|i| derive(&i)) {
        Ok(tokens) => tokens,
        Err(e) => e.to_compile_error(),
    }
}

fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                "`Event` is derived for structs: an enum has no fields common to all events",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "`Event` is derived for structs, not unions",
            ));
        }
    };
    let (mut key, mut time) = (None::<Marked<'_>>, None::<Marked<'_>>);
    let members: Vec<Member> = match fields {
        Fields::Named(_) | Fields::Unnamed(_) => fields.members().collect(),
        Fields::Unit => Vec::new(),
    };
    for (field, member) in fields.iter().zip(members) {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("event")) {
            attr.parse_nested_meta(|meta| {
                let slot = if meta.path.is_ident("key") {
                    &mut key
                } else if meta.path.is_ident("timestamp") {
                    &mut time
                } else {
                    return Err(meta.error(
                        "expected `key` or `timestamp`: `#[event(key)]`, `#[event(timestamp)]`",
                    ));
                };
                let what = if meta.path.is_ident("key") {
                    "key"
                } else {
                    "timestamp"
                };
                if let Some(first) = slot {
                    let mut e = syn::Error::new(
                        meta.path.span(),
                        format!(
                            "an event has one {what}, but two fields are marked `#[event({what})]`"
                        ),
                    );
                    e.combine(syn::Error::new(first.attr, "the first is here"));
                    return Err(e);
                }
                *slot = Some(Marked {
                    member: member.clone(),
                    ty: &field.ty,
                    attr: meta.path.span(),
                });
                Ok(())
            })?;
        }
    }
    if key.is_none() && time.is_none() {
        return Err(syn::Error::new(
            input.ident.span(),
            "mark the field that holds the event's key with `#[event(key)]`, \
             its time with `#[event(timestamp)]`, or both",
        ));
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let key_impl = key.map(|Marked { member, ty, .. }| {
        let clone = quote_spanned!(ty.span()=> <#ty as ::core::clone::Clone>::clone(&self.#member));
        quote! {
            impl #impl_generics ::tributary::event::EventKey for #name #ty_generics #where_clause {
                type Key = #ty;
                fn event_key(&self) -> Self::Key {
                    #clone
                }
            }
        }
    });
    let time_impl = time.map(|Marked { member, ty, .. }| {
        let millis =
            quote_spanned!(ty.span()=> <#ty as ::tributary::event::Millis>::millis(&self.#member));
        quote! {
            impl #impl_generics ::tributary::event::EventTime for #name #ty_generics #where_clause {
                fn event_time(&self) -> i64 {
                    #millis
                }
            }
        }
    });
    Ok(quote!(#key_impl #time_impl))
}
