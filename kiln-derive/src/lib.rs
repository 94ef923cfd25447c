//! `#[derive(Module)]` for kiln: turns a plain struct whose fields are layers into an
//! `nn::Module`, registering every field that is itself a module under its field name
//! (so parameters get PyTorch's dotted names: `fc1.weight`, `layers.0.bias`).
//!
//! Field attributes:
//! - `#[module(skip)]`: not visited at all.
//! - `#[module(param)]`: a `Tensor` (or `Option<Tensor>`) registered as a parameter.
//! - `#[module(buffer)]`: a `Tensor` (or `Option<Tensor>`) registered as a buffer.
//!
//! Fields of other types that do not implement `Module` are ignored. The struct must
//! have an inherent `fn forward(&self, x: &Tensor) -> Tensor`; the derived
//! `Module::forward` calls it (a missing one is a compile error, not endless recursion).
//! The derive also implements `Display` as PyTorch's module repr, so `println!("{model}")`
//! prints what `print(model)` prints (a struct with its own `Display` cannot derive it).

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Index, parse_macro_input};

enum Role {
    Child,
    Skip,
    Param,
    Buffer,
}

fn role(field: &syn::Field) -> syn::Result<Role> {
    let mut role = Role::Child;
    for attr in &field.attrs {
        if !attr.path().is_ident("module") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                role = Role::Skip;
            } else if meta.path.is_ident("param") {
                role = Role::Param;
            } else if meta.path.is_ident("buffer") {
                role = Role::Buffer;
            } else {
                return Err(meta.error("expected `skip`, `param` or `buffer`"));
            }
            Ok(())
        })?;
    }
    Ok(role)
}

/// Derives `kiln::nn::Module` for a struct of layers. See the crate docs.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(Module)] supports structs only",
        ));
    };
    let mut children = Vec::new();
    let mut params = Vec::new();
    let mut buffers = Vec::new();
    let fields: Vec<(proc_macro2::TokenStream, String, &syn::Field)> = match &data.fields {
        Fields::Named(f) => f
            .named
            .iter()
            .map(|f| {
                let id = f.ident.clone().expect("named field");
                (quote!(#id), id.to_string(), f)
            })
            .collect(),
        Fields::Unnamed(f) => f
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let idx = Index::from(i);
                (quote!(#idx), i.to_string(), f)
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    for (access, label, field) in fields {
        match role(field)? {
            Role::Skip => {}
            Role::Child => children.push(quote! {
                (&&::kiln::nn::__private::Probe(&self.#access)).__kiln_visit(#label, f);
            }),
            Role::Param => params.push(quote! {
                ::kiln::nn::__private::TensorField::__kiln_tensor(&self.#access, #label, f);
            }),
            Role::Buffer => buffers.push(quote! {
                ::kiln::nn::__private::TensorField::__kiln_tensor(&self.#access, #label, f);
            }),
        }
    }
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let type_name = name.to_string();
    let lt = syn::Lifetime::new("'__kiln_a", proc_macro2::Span::call_site());
    Ok(quote! {
        impl #impl_g ::kiln::nn::Module for #name #ty_g #where_g {
            fn forward(&self, input: &::kiln::Tensor) -> ::kiln::Tensor {
                // Inherent methods win over trait methods, so this calls the struct's own
                // `forward`; without one it resolves to `MissingForward` and fails to compile.
                #[allow(unused_imports)]
                use ::kiln::nn::__private::MissingForward as _;
                self.forward(input)
            }

            #[allow(unused_variables)]
            fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &::kiln::Tensor)) {
                #(#params)*
            }

            #[allow(unused_variables)]
            fn visit_own_buffers(&self, f: &mut dyn FnMut(&str, &::kiln::Tensor)) {
                #(#buffers)*
            }

            #[allow(unused_variables, unused_imports)]
            fn visit_children<#lt>(
                &#lt self,
                f: &mut dyn FnMut(&str, &#lt dyn ::kiln::nn::Module),
            ) {
                use ::kiln::nn::__private::{ViaModule as _, ViaNothing as _};
                #(#children)*
            }

            fn type_name(&self) -> String {
                #type_name.to_string()
            }
        }

        /// PyTorch's module repr (`print(model)`): the tree of submodules.
        impl #impl_g ::std::fmt::Display for #name #ty_g #where_g {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&::kiln::nn::Module::repr(self))
            }
        }
    })
}
